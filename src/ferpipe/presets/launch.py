"""A report's preset run as a DVC experiment (``ferpipe reproduce NAME``): the params it writes, and
the run, queued or at once; a finished run is recorded in ``results/``."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ferpipe.config import load_yaml
from ferpipe.presets.apply import committed_params, start_from_committed, with_overrides
from ferpipe.presets.reports import Report, document_leaks, experiment_name
from ferpipe.presets.results import record


def run_params(
    root: Path,
    report: Report,
    variant: str,
    epochs_scale: float | None = None,
    subsample: float | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """The top-level params keys to write for a run: the report's, the budget knobs, and
    ``key.path=value`` overrides (a CPU cut such as ``models.vgg_smote.args.ten_crop=false``)."""
    updates = copy.deepcopy(report.params_for(variant))
    updates.setdefault("distill", {})  # a report's protocol has no distillation unless it names one
    knobs = [f"train.epochs_scale={epochs_scale}"] if epochs_scale is not None else []
    knobs += [f"prepare.subsample={subsample}"] if subsample is not None else []
    return with_overrides(updates, yaml.safe_load(committed_params(root)) or {}, [*knobs, *overrides])


def run_leaks(root: Path, updates: Mapping[str, Any]) -> list[str]:
    """The deliberate leaks of the run these updates make: HEAD's params.yaml (what a run starts
    from) with the updates replacing whole top-level keys, as the stages will read it."""
    document = {**(yaml.safe_load(committed_params(root)) or {}), **updates}
    return document_leaks(document)


def _free_name(root: Path, name: str) -> str:
    """``name``, or with a timestamp when this baseline already has an experiment of that name
    (DVC would refuse it only after the whole run)."""
    import subprocess

    listed = subprocess.run(["dvc", "exp", "list", "--name-only"], cwd=root, capture_output=True, text=True)
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}" if name in listed.stdout.split() else name


def launch(
    root: Path, report: Report, variant: str, updates: dict[str, Any], queue: bool, overrides: Sequence[str] = ()
) -> int:
    """Write the params and run (or queue) the DVC experiment; a finished run is recorded.

    A queued run takes params.yaml as it is when queued, so params.yaml is restored at once;
    its results are recorded after ``dvc queue start`` with ``dvc exp apply`` and
    ``ferpipe results --record NAME``.
    """
    import subprocess

    params_file = root / "params.yaml"
    before = params_file.read_text(encoding="utf-8")
    if start_from_committed(root, updates):
        print("params.yaml: the run starts from HEAD's params.yaml; the workspace's changes are left out of it")
    command = ["dvc", "exp", "run", "-n", _free_name(root, experiment_name(report.name, variant))]
    command += ["--queue"] if queue else []
    try:
        code = subprocess.run(command, cwd=root).returncode
    finally:
        if queue:
            params_file.write_text(before, encoding="utf-8")
    if code == 0 and not queue:
        record(root, report, variant, load_yaml(params_file), overrides)
    return code
