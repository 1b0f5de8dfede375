"""The seed reports, rebuilt: one preset per report, its claimed numbers, and what ferpipe measures.

A report preset (``presets/reports/<name>.yaml``) holds the report's citation, what it
measures (each with the claimed value where it is on record, and the metrics file and key
that measure it here), the params that rebuild its data, balancing, models, schedule and
ensemble, and named ``variants``: top-level params that replace the base ones wholesale. The
variant ``report_protocol`` rebuilds the report's own protocol where it differs from
ferpipe's, typically a leak (:mod:`ferpipe.protocol`).

``ferpipe reproduce NAME`` runs the preset as a DVC experiment; a finished run records its
measurements in ``results/<name>.json``, and :func:`results_table` renders every recorded
run as one table (into the README between markers), so no number is ever typed by hand.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferpipe.config import load_yaml
from ferpipe.io import read_json, replace_between, write_json
from ferpipe.presets import with_overrides
from ferpipe.protocol import deliberate_leaks

REPORTS = Path("presets") / "reports"
RESULTS = Path("results")
BASE = "base"
REPORT_PROTOCOL = "report_protocol"
README_START = "<!-- results:start (written by `ferpipe results --readme`; do not edit by hand) -->"
README_END = "<!-- results:end -->"


@dataclass(frozen=True)
class Measure:
    """One number a report gives: what it is, the claimed value (None: not on record here),
    where ferpipe's metrics hold it (``metrics/x.json:dotted.key``), and which variants measure it."""

    what: str
    metric: str
    claimed: float | None = None
    variants: tuple[str, ...] = ()

    def applies_to(self, variant: str) -> bool:
        return not self.variants or variant in self.variants

    def read(self, root: Path) -> float | None:
        """The measured value from a finished run's metrics file, as a percentage."""
        file, _, key = self.metric.partition(":")
        path = root / file
        if not path.exists():
            return None
        value: Any = json.loads(path.read_text())
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return round(100 * float(value), 2) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Report:
    """A published report and the preset that rebuilds it."""

    name: str
    title: str
    source: str
    measures: tuple[Measure, ...]
    params: dict[str, Any]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""
    twin: str = BASE  # the honest run a report_protocol run is read against when base is not recorded

    def params_for(self, variant: str = BASE) -> dict[str, Any]:
        """The top-level params keys a run of ``variant`` writes into params.yaml."""
        if variant == BASE:
            return dict(self.params)
        if variant not in self.variants:
            raise ValueError(f"report {self.name!r}: no variant {variant!r}; have: {', '.join([BASE, *self.variants])}")
        return {**self.params, **self.variants[variant]}


def load_report(root: Path, name: str) -> Report:
    """Read ``presets/reports/<name>.yaml``; a malformed preset names its file and the problem."""
    path = root / REPORTS / f"{name}.yaml"
    if not path.exists():
        have = ", ".join(report_names(root)) or "none"
        raise ValueError(f"{path}: no such report preset; available: {have}")
    raw = load_yaml(path) or {}
    missing = [key for key in ("title", "source", "measures", "params") if key not in raw]
    if missing:
        raise ValueError(f"{path}: missing {missing}")
    try:
        measures = tuple(
            Measure(m["what"], m["metric"], m.get("claimed"), tuple(m.get("variants") or ())) for m in raw["measures"]
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: each measure needs 'what' and 'metric' ({exc})") from exc
    return Report(
        name,
        raw["title"],
        raw["source"],
        measures,
        raw["params"],
        raw.get("variants") or {},
        raw.get("notes", ""),
        raw.get("honest_twin", BASE),
    )


def report_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / REPORTS).glob("*.yaml"))


def experiment_name(report: str, variant: str) -> str:
    """The DVC experiment a run of ``report``/``variant`` is saved as."""
    return report if variant == BASE else f"{report}-{variant.replace('_', '-')}"


def describe(report: Report) -> str:
    """The ``--list`` entry of one report: title, source, claimed numbers, variants, notes."""
    lines = [f"{report.name}: {report.title}", f"  source: {report.source}"]
    for m in report.measures:
        claimed = f"{m.claimed:g}%" if m.claimed is not None else "not on record here"
        lines.append(f"  claimed {claimed:>20}  {m.what}")
    for variant in report.variants:
        leaks = deliberate_leaks(report.params_for(variant))
        lines.append(f"  variant {variant}{'  (LEAKY, on purpose)' if leaks else ''}")
    if report.notes:
        lines.append(f"  notes: {' '.join(report.notes.split())}")
    return "\n".join(lines)


def budget(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """The compute a finished run spent, from its metrics: device, epochs per model, data share."""
    epochs, devices = {}, set()
    for name in params.get("models", {}):
        path = root / "metrics" / "details" / "train" / f"{name}.json"
        if path.exists():
            train = json.loads(path.read_text())
            epochs[name] = train.get("epochs_run")
            devices.add(train.get("device", "unknown"))
    return {
        "device": ", ".join(sorted(devices)) or "unknown",
        "epochs": epochs,
        "epochs_scale": params.get("train", {}).get("epochs_scale", 1.0),
        "subsample": params.get("prepare", {}).get("subsample", 1.0),
    }


def record(
    root: Path, report: Report, variant: str, params: dict[str, Any], overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Add a finished run's measurements to ``results/<name>.json`` (one entry per variant)."""
    entry = {
        "measured": {m.what: m.read(root) for m in report.measures if m.applies_to(variant)},
        "leaky": bool(deliberate_leaks(params)),
        "budget": {**budget(root, params), "overrides": list(overrides)},
        "recorded": time.strftime("%Y-%m-%d"),
    }
    path = root / RESULTS / f"{report.name}.json"
    results = read_json(path)
    results[variant] = entry
    write_json(path, results)
    return entry


def _budget_text(budget: dict[str, Any]) -> str:
    epochs = sorted({e for e in budget["epochs"].values() if e is not None})
    span = f"{epochs[0]}-{epochs[-1]}" if len(epochs) > 1 else (str(epochs[0]) if epochs else "?")
    share = "" if budget["subsample"] == 1 else f", {budget['subsample']:g} of the data"
    changed = "".join(f", {o}" for o in budget.get("overrides", []))
    return f"{budget['device']}, {span} epochs (x{budget['epochs_scale']:g} of the recipe){share}{changed}"


def _cell(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _row(name: str, variant: str, measure: Measure, entry: dict, own: dict | None) -> str:
    """One table row; a leaky run's number goes in the report's-protocol column, never ferpipe's."""
    value = entry["measured"][measure.what]
    other = own["measured"].get(measure.what) if own else None
    honest, reported = (None, value) if entry["leaky"] else (value, other)
    budgets = [_budget_text(entry["budget"])] + ([_budget_text(own["budget"])] if other is not None else [])
    return (
        f"| {name} | {variant} | {measure.what} | {_cell(measure.claimed)} | {_cell(honest)} | {_cell(reported)} "
        f"| {'; '.join(budgets)} |"
    )


def results_table(root: Path) -> str:
    """Every recorded run as a markdown table: claimed | ferpipe's protocol | the report's protocol.

    One row per report, variant and measure; a ``report_protocol`` run fills the last column of
    its honest twin's rows (``base``, else the preset's ``honest_twin``). The budget column says
    what each measured number cost.
    """
    header = (
        "| report | variant | measure | claimed | ferpipe protocol | report's protocol | budget (ferpipe; report's) |\n"
        "|---|---|---|---:|---:|---:|---|"
    )
    rows = []
    for name in report_names(root):
        path = root / RESULTS / f"{name}.json"
        if not path.exists():
            continue
        report, results = load_report(root, name), json.loads(path.read_text())
        twin = next((v for v in (BASE, report.twin) if v in results), None)
        own = results.get(REPORT_PROTOCOL) if twin else None
        for variant, entry in results.items():
            if own is not None and variant == REPORT_PROTOCOL:
                continue  # shown in its honest twin's rows' last column
            rows += [
                _row(name, variant, m, entry, own if variant == twin else None)
                for m in report.measures
                if m.what in entry["measured"]
            ]
    return "\n".join([header, *rows]) if rows else header + "\n| (no run recorded yet) | | | | | | |"


def update_readme(root: Path) -> bool:
    """Rewrite the README's results table between its markers; False when the markers are missing."""
    return replace_between(root / "README.md", README_START, README_END, results_table(root))


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
    return with_overrides(updates, load_yaml(root / "params.yaml") or {}, [*knobs, *overrides])


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

    from ferpipe.presets import write_params

    params_file = root / "params.yaml"
    before = params_file.read_text(encoding="utf-8")
    write_params(root, updates)
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
