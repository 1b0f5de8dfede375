"""The metric-regression gate: workspace metrics against a committed baseline and absolute floors.

``dvc metrics diff`` reports changes but never fails a build, so the decision is made here:
every tracked metric (higher is better) may fall by at most its tolerance from the baseline
revision, and may never sit under its floor. Both come from ``thresholds.yaml``.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferpipe.config import load_yaml
from ferpipe.tables import render

THRESHOLDS_FILE = "thresholds.yaml"


@dataclass(frozen=True)
class GateConfig:
    """What the gate watches: ``{"<file>:<key>" pattern: tolerance}`` and exact ``{"<file>:<key>": floor}``."""

    baseline: str
    track: dict[str, float]
    floors: dict[str, float]

    @classmethod
    def load(cls, path: Path) -> GateConfig:
        try:
            gate = load_yaml(path)["gate"]
            return cls(
                baseline=str(gate.get("baseline", "HEAD")),
                track={str(k): float(v) for k, v in gate["track"].items()},
                floors={str(k): float(v) for k, v in (gate.get("floors") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: a 'gate' section needs 'track' (pattern: tolerance) and may have 'floors' ({exc!r})"
            ) from exc

    def tolerance(self, name: str) -> float | None:
        """The tolerance of the first pattern matching ``name``; None when the metric is not tracked."""
        return next((tol for pattern, tol in self.track.items() if fnmatch.fnmatchcase(name, pattern)), None)


@dataclass(frozen=True)
class Check:
    """One tracked metric: where it was, where it is, and the verdict."""

    name: str  # "<file>:<key>"
    baseline: float | None
    current: float | None
    tolerance: float | None
    floor: float | None

    @property
    def change(self) -> float | None:
        return None if self.baseline is None or self.current is None else self.current - self.baseline

    @property
    def status(self) -> str:
        if self.current is None:
            return "missing" if self.floor is not None else "removed"
        if self.floor is not None and self.current < self.floor:
            return "below floor"
        if self.change is not None and self.tolerance is not None and self.change < -self.tolerance - 1e-12:
            return "regressed"
        return "new" if self.baseline is None else "ok"

    @property
    def failed(self) -> bool:
        return self.status in ("below floor", "regressed", "missing")


def metrics_diff(root: Path, rev: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``dvc metrics diff --json --all REV``: every metric, old (at REV) and new (workspace)."""
    cmd = [sys.executable, "-m", "dvc", "metrics", "diff", "--json", "--all", rev]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"`dvc metrics diff {rev}` failed in {root}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout or "{}")


def evaluate_gate(diff: dict[str, dict[str, dict[str, Any]]], config: GateConfig) -> list[Check]:
    """Checks for every tracked metric in the diff, plus every floor (a floored metric must exist)."""
    values: dict[str, tuple[float | None, float | None]] = {}
    for file, keys in diff.items():
        for key, entry in keys.items():
            values[f"{file}:{key}"] = (_number(entry.get("old")), _number(entry.get("new")))
    names = sorted({n for n in values if config.tolerance(n) is not None} | set(config.floors))
    return [
        Check(n, *values.get(n, (None, None)), tolerance=config.tolerance(n), floor=config.floors.get(n)) for n in names
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def render_table(checks: list[Check], rev: str) -> str:
    """The gate's verdict on every tracked metric, one row each."""
    columns = [
        ("metric", "left"),
        (f"baseline ({rev})", "right"),
        ("workspace", "right"),
        ("change", "right"),
        ("allowed fall", "right"),
        ("floor", "right"),
        ("status", "left"),
    ]
    rows = [
        (
            c.name,
            _fmt(c.baseline),
            _fmt(c.current),
            _fmt(c.change, signed=True),
            _fmt(c.tolerance),
            _fmt(c.floor),
            c.status.upper() if c.failed else c.status,
        )
        for c in checks
    ]
    return render(f"ferpipe gate: workspace against {rev} and floors", columns, rows)


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def summary(checks: list[Check]) -> str:
    failed = [c for c in checks if c.failed]
    if not failed:
        return f"gate passed: {len(checks)} tracked metrics within tolerance and above their floors"
    lines = [f"gate FAILED: {len(failed)} of {len(checks)} tracked metrics"]
    for c in failed:
        if c.status == "regressed":
            fall = c.baseline - c.current  # type: ignore[operator]
            lines.append(f"  {c.name} fell {fall:.4f} (allowed {c.tolerance}): {c.baseline:.4f} -> {c.current:.4f}")
        elif c.status == "below floor":
            lines.append(f"  {c.name} = {c.current:.4f} is under its floor {c.floor:.4f}")
        else:
            lines.append(f"  {c.name} is missing from the workspace (it has a floor)")
    return "\n".join(lines)


def run_gate(root: Path, thresholds: Path | None = None, rev: str | None = None) -> tuple[bool, str]:
    """Compare, render, decide: (passed, report text)."""
    config = GateConfig.load(thresholds or root / THRESHOLDS_FILE)
    baseline = rev or config.baseline
    checks = evaluate_gate(metrics_diff(root, baseline), config)
    if not checks:
        raise ValueError(f"gate: no metric matches the tracked patterns {sorted(config.track)}")
    passed = not any(c.failed for c in checks)
    return passed, render_table(checks, baseline) + summary(checks)
