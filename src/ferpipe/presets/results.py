"""What each report's run measured: recorded in ``results/<name>.json`` with its budget, and
rendered as one table (into the README between markers), so no number is ever typed by hand."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ferpipe.config import Paths
from ferpipe.io import read_json, replace_between, write_json
from ferpipe.presets.reports import BASE, REPORT_PROTOCOL, Measure, Report, document_leaks, load_report, report_names

RESULTS = Path("results")
README_START = "<!-- results:start (written by `ferpipe results --readme`; do not edit by hand) -->"
README_END = "<!-- results:end -->"


def budget(root: Path, document: dict[str, Any]) -> dict[str, Any]:
    """The compute a finished run spent, from its metrics and the params document it ran with:
    device, epochs per model, data share."""
    epochs, devices = {}, set()
    for name in document.get("models", {}):
        path = Paths(root).detail(f"train/{name}")
        if path.exists():
            train = json.loads(path.read_text())
            epochs[name] = train.get("epochs_run")
            devices.add(train.get("device", "unknown"))
    return {
        "device": ", ".join(sorted(devices)) or "unknown",
        "epochs": epochs,
        "epochs_scale": document.get("train", {}).get("epochs_scale", 1.0),
        "subsample": document.get("prepare", {}).get("subsample", 1.0),
    }


def record(
    root: Path, report: Report, variant: str, document: dict[str, Any], overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Add a finished run's measurements to ``results/<name>.json`` (one entry per variant), with the
    params document it ran with (its leaks, its budget)."""
    measures = [m for m in report.measures if m.applies_to(variant)]
    entry = {
        "measured": {m.what: m.read(root) for m in measures},
        "intervals": {m.what: interval for m in measures if (interval := m.interval(root))},
        "leaky": bool(document_leaks(document)),
        "budget": {**budget(root, document), "overrides": list(overrides)},
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


def _cell(value: float | None, interval: list[float] | None = None) -> str:
    """A percentage, with its 95% interval where the run recorded one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" + (f" ({interval[0]:.1f}-{interval[1]:.1f})" if interval else "")


def _row(name: str, variant: str, measure: Measure, entry: dict, own: dict | None) -> str:
    """One table row; a leaky run's number goes in the report's-protocol column, never ferpipe's."""
    value, interval = entry["measured"][measure.what], entry.get("intervals", {}).get(measure.what)
    other = own["measured"].get(measure.what) if own else None
    other_interval = own.get("intervals", {}).get(measure.what) if own else None
    honest = (None, None) if entry["leaky"] else (value, interval)
    reported = (value, interval) if entry["leaky"] else (other, other_interval)
    budgets = [_budget_text(entry["budget"])] + ([_budget_text(own["budget"])] if other is not None else [])
    return (
        f"| {name} | {variant} | {measure.what} | {_cell(measure.claimed)} | {_cell(*honest)} | {_cell(*reported)} "
        f"| {'; '.join(dict.fromkeys(budgets))} |"  # the same budget for both protocols: said once
    )


def results_table(root: Path) -> str:
    """Every recorded run as a markdown table: claimed | ferpipe's protocol | the report's protocol, each
    measured number with its 95% interval where the run recorded one.

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
