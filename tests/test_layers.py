"""The layer rule (docs/explanation/pipeline.md): each part of ``src/ferpipe`` imports only from its
own layer or the ones below, stages never import other stages, and the parts import no circle.

Read from the code (every ``import``, also those inside functions), so a move or a new module that
breaks the rule fails here with the file and the import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "src" / "ferpipe"
BASE = {
    "__init__", "choices", "config", "detect", "device", "errors", "images", "io", "labels", "named",
    "protocol", "runner", "schema", "tables",
}  # fmt: skip
LAYERS = {
    **{name: 0 for name in BASE},  # the foundation: params, paths, labels, files, errors, devices, pictures
    **{name: 1 for name in ("sources", "readers", "data")},  # data arrives, is read, merged, audited, balanced
    **{name: 2 for name in ("models", "train", "evaluate")},  # models are built, trained and scored
    "tracking": 3,  # MLflow: runs, the registry's champion rule, the team server
    "pipeline": 4,  # what the training and scoring stages do, callable (distill uses both)
    **{
        name: 5 for name in ("serving", "report", "checks", "presets", "tuning")
    },  # what uses trained and tracked models
    "stages": 6,  # one module per DVC stage: reads params, calls the layers below
    "cli": 7,  # the `ferpipe` command
}


def _part(module: str) -> str:
    """``ferpipe.serving.predict`` -> ``serving``; ``ferpipe.config`` -> ``config``."""
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def _imports() -> list[tuple[Path, str, str]]:
    """(file, importing module, imported ferpipe module) for every import in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(part for part in relative.parts if part != "__init__") or "ferpipe"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ferpipe"):
                names = [f"{node.module}.{alias.name}" for alias in node.names] if node.module == "ferpipe" else []
                found += [(path, module, name) for name in names or [node.module]]
            elif isinstance(node, ast.Import):
                found += [(path, module, a.name) for a in node.names if a.name.startswith("ferpipe")]
    return found


IMPORTS = _imports()


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert parts - {"__pycache__"} == set(LAYERS), "give a new module or package its layer in LAYERS"


def test_no_part_imports_from_a_layer_above_it() -> None:
    upward = [
        f"{path.relative_to(REPO)}: {module} (layer {LAYERS[_part(module)]}) imports {target} "
        f"(layer {LAYERS[_part(target)]})"
        for path, module, target in IMPORTS
        if module != "ferpipe" and LAYERS[_part(target)] > LAYERS[_part(module)]
    ]
    assert not upward, "\n".join(upward)


def test_stages_do_not_import_other_stages() -> None:
    crossing = [
        f"{path.relative_to(REPO)} imports {target}"
        for path, module, target in IMPORTS
        if _part(module) == "stages" and _part(target) == "stages" and target not in ("ferpipe.stages", module)
    ]
    assert not crossing, "\n".join(crossing)


def test_the_parts_import_no_circle() -> None:
    graph: dict[str, set[str]] = {}
    for _, module, target in IMPORTS:
        if module != "ferpipe" and _part(module) != _part(target):
            graph.setdefault(_part(module), set()).add(_part(target))
    visiting, done, circle = set(), set(), []

    def visit(node: str, trail: list[str]) -> None:
        if node in done or circle:
            return
        if node in visiting:
            circle.extend([*trail[trail.index(node) :], node])
            return
        visiting.add(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*trail, node])
        visiting.discard(node)
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    assert not circle, " -> ".join(circle)


@pytest.mark.parametrize("part", ["serving", "tracking", "checks", "pipeline"])
def test_the_grouped_packages_exist_with_a_docstring_saying_their_job(part: str) -> None:
    assert ast.get_docstring(ast.parse((PACKAGE / part / "__init__.py").read_text()))


# MLflow's own inference params (a pyfunc's ``predict(context, model_input, params)``), not ferpipe's
NOT_FERPIPE_PARAMS = {("serving/pyfunc_model.py", "predict")}


def test_below_the_stages_params_arrive_typed_never_as_the_raw_dict() -> None:
    """Params are parsed once (``config.load_params`` returns ``schema.Params``) and each stage hands
    the layers below their typed sections: no module below the stages takes a raw params dict or
    looks a key up in one. (Presets and studies edit params *documents*, named so.)"""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if LAYERS[relative.parts[0].removesuffix(".py")] >= LAYERS["stages"]:
            continue
        for function in [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)]:
            if (relative.as_posix(), function.name) in NOT_FERPIPE_PARAMS:
                continue
            for node in ast.walk(function):
                raw = (
                    (
                        isinstance(node, ast.arg)
                        and node.arg == "params"
                        and "dict" in ast.unparse(node.annotation or "")
                    )
                    or (isinstance(node, ast.Subscript) and ast.unparse(node.value) == "params")
                    or (isinstance(node, ast.Call) and ast.unparse(node.func) == "params.get")
                )
                if raw:
                    offenders.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)
