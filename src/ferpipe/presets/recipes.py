"""Recipe runs on real data: a preset reproduced end to end, timed, and recorded with its budget.

``ferpipe recipe PRESET`` writes the preset into params.yaml, times ``dvc repro`` by the wall
clock, and records in ``results/recipes/<name>.json`` what each model, the pipeline's best and
each distilled student measured: validation and test accuracy (the test split named by the
preset's protocol), epochs, training minutes and images per second (summed and taken from the
MLflow runs' per-epoch timings), the machine and the commit. :func:`recipes_table` renders
every record; ``ferpipe results --readme`` writes it into the README. Nothing is typed by hand.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferpipe.config import Paths, load_params, load_yaml
from ferpipe.evaluate.uncertainty import wilson
from ferpipe.io import replace_between, write_json
from ferpipe.presets.apply import load_preset, with_overrides, write_params
from ferpipe.tables import markdown

if TYPE_CHECKING:
    from ferpipe.schema import Params, Prepare

RECIPES = Path("results") / "recipes"
README_START = "<!-- recipes:start (written by `ferpipe results --readme` from results/recipes; not by hand) -->"
README_END = "<!-- recipes:end -->"


def run_recipe(root: Path, preset: str, name: str | None = None, overrides: Sequence[str] = ()) -> Path:
    """Write ``preset`` (with ``key.path=value`` overrides: a budget cut, another data location) into
    params.yaml, run ``dvc repro`` (its output streams through) and record the run; returns the record."""
    current = load_yaml(root / "params.yaml") or {}
    write_params(root, with_overrides(load_preset(preset, root), current, overrides))
    params = load_params(root / "params.yaml")  # a bad preset stops here, before anything runs
    began = time.time()
    done = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=root)
    if done.returncode != 0:
        raise ValueError(f"`dvc repro` of preset {preset} failed (exit {done.returncode}); nothing recorded")
    entry = {**measure(root, params, preset, began), "overrides": list(overrides)}
    path = root / RECIPES / f"{name or preset}.json"
    write_json(path, entry)
    return path


def measure(root: Path, params: Params, preset: str, began: float) -> dict[str, Any]:
    """What the workspace's finished pipeline measured, with the budget it took since ``began`` (epoch seconds):
    to the end of the run, and to the ensemble's result (when ``metrics/best.json`` was written: the
    ensemble stage writes it last before registering, and the distill stages come after it)."""
    paths = Paths(root)
    ensembled = paths.headline("best").stat().st_mtime - began
    timings = _timings(params, paths)
    models = {name: {**_scores(paths, name), **timings.get(name, {})} for name in params.models}
    students = {name: {**_scores(paths, name), **timings.get(name, {})} for name in params.distill}
    best = json.loads(paths.detail("ensemble").read_text())["best"]["name"]
    cross = {name: cross_scores(paths, name) for name in [*models, best, *students]}
    return {
        "preset": preset,
        "recorded": datetime.date.today().isoformat(),
        "commit": commit(root),
        "machine": machine(),
        "test_split": split_named(params.prepare, "test"),
        "n_test": json.loads(paths.headline("prepare").read_text())["n_test"],  # each accuracy's interval
        "wall_minutes": round((time.time() - began) / 60, 1),
        "ensemble_minutes": round(ensembled / 60, 1) if ensembled > 0 else None,  # None: the ensemble was cached
        "models": models,
        "best": {"name": best, **_scores(paths, best)},
        "students": students,
        "cross": {name: scores for name, scores in cross.items() if scores},
    }


def _scores(paths: Paths, name: str) -> dict[str, float]:
    saved = json.loads(paths.headline(name).read_text())
    return {"val_acc": round(saved["val_acc"], 4), "test_acc": round(saved["test_acc"], 4)}


def cross_scores(paths: Paths, name: str) -> dict[str, dict[str, Any]]:
    """Per test-only source (``role: test_only``): accuracy, its 95% interval and the number of faces;
    empty when the preset declares none. An ensemble method's scores are in the ensemble's details."""
    if name.startswith("ensemble_"):
        details = json.loads(paths.detail("ensemble").read_text())[name.removeprefix("ensemble_")]
    else:
        details = json.loads(paths.detail(name).read_text())
    return {
        source: {"accuracy": scores["accuracy"], "interval": scores["interval"]["accuracy"], "n": scores["n"]}
        for source, scores in (details.get("cross") or {}).items()
    }


def _timings(params: Params, paths: Paths) -> dict[str, dict[str, Any]]:
    """Per trained model and student: its train run's budget (``tracking.train_budget``)."""
    from ferpipe import tracking

    experiment_id = tracking.configure(params.mlflow.experiment, paths.home)
    files = {m: paths.model_file(m) for m in params.models}
    files.update({s: paths.student_file(s) for s in params.distill})
    out: dict[str, dict[str, Any]] = {}
    for name, file in files.items():
        run_id = tracking.model_run(experiment_id, file)
        if run_id is not None:  # None: restored from DVC's cache, trained against another store
            out[name] = tracking.train_budget(run_id)
    return out


def machine() -> dict[str, Any]:
    """The CPU, its cores, torch's threads and the GPU: what a time or an images/s figure needs beside it."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def split_named(prepare: Prepare, split: str) -> str:
    """The source split a pipeline split comes from (``PublicTest``), or how it was drawn."""
    usage = [u for u, s in prepare.usage_map.items() if s == split]
    fraction = {"val": prepare.val_fraction, "test": prepare.test_fraction}.get(split, 0)
    return ", ".join(usage) or f"a {fraction:g} share of training"


def commit(root: Path) -> str:
    """The short hash of HEAD, or ``unknown`` outside git."""
    from ferpipe import tracking

    return tracking.git_commit(root)[:7]


def recipes_table(root: Path) -> str:
    """One row per model, best and student of every recorded recipe run; below it, when a run
    declared test-only sources, their accuracies (the cross-dataset protocol)."""
    records = {path.stem: json.loads(path.read_text()) for path in sorted((root / RECIPES).glob("*.json"))}
    rows = []
    for name, entry in records.items():
        where = _run_cell(name, entry)
        for kind, model, row in _rows(entry):
            rows.append(
                [
                    where,
                    f"{model}{kind}",
                    _cell(row.get("epochs")),
                    _cell(row.get("train_minutes")),
                    _cell(row.get("images_per_second")),
                    f"{100 * row['val_acc']:.1f}",
                    _test_cell(row["test_acc"], entry),
                ]
            )
            where = ""
    if not rows:
        return "(no recipe runs recorded in results/recipes/)"
    columns = [("recipe run", "left"), ("model", "left"), ("epochs", "right"), ("train min", "right")]
    columns += [("img/s", "right"), ("val %", "right"), ("test % (95% CI)", "right")]
    table = markdown(columns, rows)
    cross = cross_table(records)
    if not cross:
        return table
    return f"{table}\n\nThe same runs on their test-only sources (never trained on, never chosen on):\n\n{cross}"


def cross_table(records: dict[str, dict[str, Any]]) -> str:
    """A row per model of each run that scored test-only sources, a column per source: accuracy,
    its Wilson interval and the number of faces. Empty when no run did. A run is named only: its
    budget is in the table above, and repeating it made the first column hundreds of characters wide."""
    scored = [scores for entry in records.values() for scores in entry.get("cross", {}).values()]
    sources = sorted({source for scores in scored for source in scores})
    rows = []
    for name, entry in records.items():
        where = name
        for model, scores in entry.get("cross", {}).items():
            rows.append([where, model, *(_cross_cell(scores.get(source)) for source in sources)])
            where = ""
    columns = [("recipe run", "left"), ("model", "left")]
    columns += [(f"{source} % (95% CI, faces)", "right") for source in sources]
    return markdown(columns, rows) if rows else ""


def _run_cell(name: str, entry: dict[str, Any]) -> str:
    """``cpu (2-core CPU, 70.4 min end to end, ..., 2026-11-24; overrides)``: a run and its budget."""
    machine = entry["machine"]["gpu"] or f"{entry['machine']['cores']}-core CPU"
    cut = f"; {', '.join(entry['overrides'])}" if entry.get("overrides") else ""
    to_ensemble = f"{entry['ensemble_minutes']:g} min to the ensemble" if entry.get("ensemble_minutes") else ""
    to_end = f"{entry['wall_minutes']:g} min end to end" if entry.get("wall_minutes") else entry.get("stopped", "")
    when = ", ".join(part for part in (to_end, to_ensemble, entry["recorded"]) if part) + cut
    return f"{name} ({machine}, {when})"


def _cross_cell(scores: dict[str, Any] | None) -> str:
    if scores is None:
        return "-"
    low, high = scores["interval"]
    return f"{100 * scores['accuracy']:.1f} ({100 * low:.1f}-{100 * high:.1f}, {scores['n']:,})"


def _rows(entry: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    best = entry["best"]
    rows = [("", name, row) for name, row in entry["models"].items()]
    if best["name"] not in entry["models"]:
        rows.append((" (best)", best["name"], best))
    rows += [(" (distilled)", name, row) for name, row in entry["students"].items()]
    return rows


def _test_cell(accuracy: float, entry: dict[str, Any]) -> str:
    """``66.5 (65.0-68.1, PublicTest)``: the test accuracy with its Wilson interval over the run's test faces."""
    n = entry.get("n_test")
    if not n:
        return f"{100 * accuracy:.1f} ({entry['test_split']})"
    low, high = wilson(round(accuracy * n), n)
    return f"{100 * accuracy:.1f} ({100 * low:.1f}-{100 * high:.1f}, {entry['test_split']})"


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def update_readme(root: Path) -> bool:
    """Rewrite the README's recipe table between its markers; False when the markers are missing."""
    return replace_between(root / "README.md", README_START, README_END, recipes_table(root))
