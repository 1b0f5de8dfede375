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
PIPELINE = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
STAGES = {name: spec.get("do", spec) for name, spec in PIPELINE.items()}
PER_MODEL = {name for name, spec in PIPELINE.items() if spec.get("foreach") == "${models}"}
REGISTRY = "src/ferpipe/models/registry.py"
ZOO = "src/ferpipe/models/zoo/"
# one-file-per-name packages (ferpipe.named): the registry imports their files by name, so a
# stage that reaches the registry may run any of them
LOOKED_UP_BY_NAME = {REGISTRY: ZOO, "src/ferpipe/readers/registry.py": "src/ferpipe/readers/formats/"}
OWN_MODEL = ZOO + "${item.arch}.py"  # a per-model stage's model file: the registry imports it by name


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
    """Repo-relative paths of the script and every ferpipe file it imports, packages' __init__ included;
    through the model registry, every model of the zoo (each imported by its name on first use)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if (package := LOOKED_UP_BY_NAME.get(path.relative_to(REPO).as_posix())) is not None:
            todo += sorted((REPO / package).glob("*.py"))
        for name in _imported_names(path):
            parts = name.split(".")
            if parts[0] != "ferpipe":
                continue
            todo += [f for i in range(1, len(parts) + 1) if (f := _module_file(".".join(parts[:i])))]
    return {p.relative_to(REPO).as_posix() for p in seen}


def _covers(dep: str, file: str) -> bool:
    if dep == OWN_MODEL:
        return file.startswith(ZOO) and not file.endswith("/__init__.py")
    return file == dep or file.startswith(dep.rstrip("/") + "/")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_code_deps_cover_exactly_what_the_stage_imports(stage: str) -> None:
    spec = STAGES[stage]
    needed = import_closure(REPO / spec["cmd"].split()[1])
    code_deps = [d for d in spec["deps"] if d.startswith(("src/", "stages/"))]
    if stage in PER_MODEL:  # its own model's file, not the whole zoo
        assert REGISTRY not in needed or OWN_MODEL in code_deps, f"dvc.yaml stage {stage}: add {OWN_MODEL}"
        assert not any(d.rstrip("/") in ("src/ferpipe/models", ZOO.rstrip("/")) for d in code_deps), (
            f"dvc.yaml stage {stage}: depend on {OWN_MODEL}, not on every model"
        )
    missing = sorted(f for f in needed if not any(_covers(d, f) for d in code_deps))
    unused = sorted(d for d in code_deps if not any(_covers(d, f) for f in needed))
    assert not missing, f"dvc.yaml stage {stage}: add to deps {missing}"
    assert not unused, f"dvc.yaml stage {stage}: deps it never imports {unused}"


def test_the_closure_follows_lazy_and_package_imports() -> None:
    closure = import_closure(REPO / "stages" / "prepare.py")
    assert "src/ferpipe/detect.py" in closure  # imported inside a function of readers/image_folder.py
    assert "src/ferpipe/__init__.py" in closure and "src/ferpipe/readers/__init__.py" in closure
    assert "src/ferpipe/train/loop.py" not in closure
