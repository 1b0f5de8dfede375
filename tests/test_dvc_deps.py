"""dvc.yaml's code deps against each stage script's imports: a stage whose code changed must rerun.

Every ferpipe module a stage script imports (at any depth, imports inside functions included,
each package's ``__init__`` too) must be covered by one of the stage's deps, and no code dep may
cover nothing the stage imports. Otherwise DVC and ``ferpipe stale`` call stale outputs up to date.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
STAGES = {
    name: spec.get("do", spec) for name, spec in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items()
}


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def _imported_names(path: Path) -> Iterator[str]:
    """Dotted names a file imports from ferpipe, with each ``from x import y`` also as ``x.y`` (y may be a module)."""
    package = list(path.relative_to(SRC).parts[:-1]) if path.is_relative_to(SRC) else []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                module = ".".join(package[: len(package) - node.level + 1] + ([module] if module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def import_closure(script: Path) -> set[str]:
    """Repo-relative paths of the script and every ferpipe file it imports, packages' __init__ included."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(path):
            parts = name.split(".")
            if parts[0] != "ferpipe":
                continue
            todo += [f for i in range(1, len(parts) + 1) if (f := _module_file(".".join(parts[:i])))]
    return {p.relative_to(REPO).as_posix() for p in seen}


def _covers(dep: str, file: str) -> bool:
    return file == dep or file.startswith(dep.rstrip("/") + "/")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_code_deps_cover_exactly_what_the_stage_imports(stage: str) -> None:
    spec = STAGES[stage]
    needed = import_closure(REPO / spec["cmd"].split()[1])
    code_deps = [d for d in spec["deps"] if d.startswith(("src/", "stages/"))]
    missing = sorted(f for f in needed if not any(_covers(d, f) for d in code_deps))
    unused = sorted(d for d in code_deps if not any(_covers(d, f) for f in needed))
    assert not missing, f"dvc.yaml stage {stage}: add to deps {missing}"
    assert not unused, f"dvc.yaml stage {stage}: deps it never imports {unused}"


def test_the_closure_follows_lazy_and_package_imports() -> None:
    closure = import_closure(REPO / "stages" / "prepare.py")
    assert "src/ferpipe/detect.py" in closure  # imported inside a function of readers/image_folder.py
    assert "src/ferpipe/__init__.py" in closure and "src/ferpipe/readers/__init__.py" in closure
    assert "src/ferpipe/train/loop.py" not in closure
