"""The metric-regression gate: workspace metrics against a committed baseline and absolute floors.

``dvc metrics diff`` reports changes but never fails a build, so the decision is made here:
every tracked metric (higher is better) may fall by at most its tolerance from the baseline
revision, and may never sit under its floor. Both come from ``thresholds.yaml``.

Each change also gets its 95% interval and a verdict, beyond noise or within it: paired on the
same faces (a bootstrap of the difference) where DVC can fetch both sides' predictions, else, for
an accuracy, the unpaired interval of two proportions over the split's faces (wider). With
``fail_on: beyond_noise`` a metric fails when it fell beyond noise, whatever its tolerance.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferpipe.config import load_yaml
from ferpipe.tables import markdown, render

THRESHOLDS_FILE = "thresholds.yaml"
FAIL_RULES = ("tolerance", "beyond_noise")


@dataclass(frozen=True)
class GateConfig:
    """What the gate watches: ``{"<file>:<key>" pattern: tolerance}`` and exact ``{"<file>:<key>": floor}``."""

    baseline: str
    track: dict[str, float]
    floors: dict[str, float]
    fail_on: str = "tolerance"  # or beyond_noise: a fall beyond noise fails, whatever the tolerance

    @classmethod
    def load(cls, path: Path) -> GateConfig:
        try:
            gate = load_yaml(path)["gate"]
            config = cls(
                baseline=str(gate.get("baseline", "HEAD")),
                track={str(k): float(v) for k, v in gate["track"].items()},
                floors={str(k): float(v) for k, v in (gate.get("floors") or {}).items()},
                fail_on=str(gate.get("fail_on", "tolerance")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: a 'gate' section needs 'track' (pattern: tolerance) and may have 'floors' ({exc!r})"
            ) from exc
        if config.fail_on not in FAIL_RULES:
            raise ValueError(f"{path}: gate.fail_on {config.fail_on!r}: choose one of {', '.join(FAIL_RULES)}")
        return config

    def tolerance(self, name: str) -> float | None:
        """The tolerance of the first pattern matching ``name``; None when the metric is not tracked."""
        return next((tol for pattern, tol in self.track.items() if fnmatch.fnmatchcase(name, pattern)), None)


@dataclass(frozen=True)
class Noise:
    """A change's 95% interval, and how it was had."""

    low: float
    high: float
    paired: bool  # on the same faces (both sides' predictions), else two separate samples

    @property
    def verdict(self) -> str:
        return "within" if self.low <= 0 <= self.high else "beyond"


@dataclass(frozen=True)
class Check:
    """One tracked metric: where it was, where it is, and the verdict."""

    name: str  # "<file>:<key>"
    baseline: float | None
    current: float | None
    tolerance: float | None
    floor: float | None
    noise: Noise | None = None  # the change's interval, where one can be had
    fail_on: str = "tolerance"

    @property
    def change(self) -> float | None:
        return None if self.baseline is None or self.current is None else self.current - self.baseline

    @property
    def status(self) -> str:
        if self.current is None:
            return "missing" if self.floor is not None else "removed"
        if self.floor is not None and self.current < self.floor:
            return "below floor"
        if self.fail_on == "beyond_noise" and self.noise is not None:
            if self.noise.high < 0:
                return "regressed"
        elif self.change is not None and self.tolerance is not None and self.change < -self.tolerance - 1e-12:
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


def evaluate_gate(
    diff: dict[str, dict[str, dict[str, Any]]],
    config: GateConfig,
    noise: Callable[[str, float | None, float | None], Noise | None] = lambda name, old, new: None,
) -> list[Check]:
    """Checks for every tracked metric in the diff, plus every floor (a floored metric must exist);
    ``noise`` gives a metric's change its interval (the workspace's: :func:`noise_in`)."""
    values: dict[str, tuple[float | None, float | None]] = {}
    for file, keys in diff.items():
        for key, entry in keys.items():
            values[f"{file}:{key}"] = (_number(entry.get("old")), _number(entry.get("new")))
    names = sorted({n for n in values if config.tolerance(n) is not None} | set(config.floors))
    checks = []
    for n in names:
        old, new = values.get(n, (None, None))
        interval = noise(n, old, new) if old is not None and new is not None else None
        checks.append(Check(n, old, new, config.tolerance(n), config.floors.get(n), interval, config.fail_on))
    return checks


SPLIT_OF_KEY = {"test_acc": "test", "test_f1": "test", "val_acc": "val", "best_test_acc": "test", "best_val_acc": "val"}


def noise_in(root: Path, rev: str) -> Callable[[str, float | None, float | None], Noise | None]:
    """The interval of a metric's change between ``rev`` and the workspace: paired on the same faces
    where DVC can fetch both sides' predictions, else (accuracies only) unpaired over each side's
    number of faces (``metrics/prepare.json``)."""
    from ferpipe.evaluate.compare import load_side, reader_at
    from ferpipe.evaluate.uncertainty import compare, paired_macro_f1_interval, unpaired_difference_interval

    def counts(at: str | None) -> dict[str, int]:
        try:
            counted = json.loads(reader_at(root, at)("metrics/prepare.json"))
            return {"test": int(counted["n_test"]), "val": int(counted["n_val"])}
        except (ValueError, KeyError, OSError):
            return {}

    sizes = {"old": counts(rev), "new": counts(None)}
    sides: dict[tuple[str, str], Any] = {}  # each side read once: a metric's acc and F1 share it

    def side(spec: str, split: str) -> Any:
        if (spec, split) not in sides:
            sides[spec, split] = load_side(root, spec, split)
        return sides[spec, split]

    def noise(name: str, old: float | None, new: float | None) -> Noise | None:
        file, _, key = name.partition(":")
        split = SPLIT_OF_KEY.get(key)
        if split is None or old is None or new is None:
            return None
        model = _model_of(root, file, rev)
        if model is not None:
            try:
                before, after = side(f"{model[0]}@{rev}", split), side(model[1], split)
                if before.faces == after.faces:
                    if key.endswith("_f1"):
                        return Noise(*paired_macro_f1_interval(before.labels, before.predicted, after.predicted), True)
                    return Noise(*compare(before.labels, before.predicted, after.predicted).interval, True)
            except ValueError:
                pass  # a side DVC cannot fetch: the unpaired interval below, where there is one
        n_old, n_new = sizes["old"].get(split), sizes["new"].get(split)
        if key.endswith("_f1") or not n_old or not n_new:
            return None
        return Noise(*unpaired_difference_interval(old, n_old, new, n_new), False)

    return noise


def _model_of(root: Path, file: str, rev: str) -> tuple[str, str] | None:
    """(name at ``rev``, name in the workspace) of the model, method or student whose metrics file this
    is; ``metrics/best.json`` is the pipeline's best at each side."""
    name = Path(file).stem
    if name != "best":
        return (name, name) if file.startswith("metrics/") and file.count("/") == 1 else None
    from ferpipe.evaluate.compare import reader_at

    try:
        picks = [json.loads(reader_at(root, at)("metrics/details/ensemble.json"))["best"]["name"] for at in (rev, None)]
    except (ValueError, KeyError, OSError):
        return None
    return picks[0], picks[1]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _columns_rows(checks: list[Check], rev: str) -> tuple[list[tuple[str, str]], list[tuple[str, ...]], str]:
    """The gate's table (one row per tracked metric) and the line that reads its intervals."""
    columns = [
        ("metric", "left"),
        (f"baseline ({rev})", "right"),
        ("workspace", "right"),
        ("change", "right"),
        ("change 95% CI", "right"),
        ("noise", "left"),
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
            "-" if c.noise is None else f"{c.noise.low:+.3f}..{c.noise.high:+.3f}{'' if c.noise.paired else ' *'}",
            "-" if c.noise is None else c.noise.verdict,
            _fmt(c.tolerance),
            _fmt(c.floor),
            c.status.upper() if c.failed else c.status,
        )
        for c in checks
    ]
    strict = checks and checks[0].fail_on == "beyond_noise"
    rule = "a fall beyond noise fails" if strict else "a fall past its allowance fails"
    note = f"CI: paired on the same faces; * unpaired (a side's predictions not in DVC's cache); {rule}"
    return columns, rows, note


def render_table(checks: list[Check], rev: str) -> str:
    """The gate's verdict on every tracked metric, one row each, for a terminal or a CI log."""
    columns, rows, note = _columns_rows(checks, rev)
    return render(f"ferpipe gate: workspace against {rev} and floors", columns, rows) + note + "\n"


def markdown_table(checks: list[Check], rev: str) -> str:
    """The same table in GitHub/GitLab Markdown, for a pull-request comment."""
    columns, rows, note = _columns_rows(checks, rev)
    return markdown(columns, [[cell.replace("*", "\\*") for cell in row] for row in rows]) + f"\n\n{note}\n"


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
            why = "beyond noise" if c.fail_on == "beyond_noise" else f"allowed {c.tolerance}"
            lines.append(f"  {c.name} fell {fall:.4f} ({why}): {c.baseline:.4f} -> {c.current:.4f}")
        elif c.status == "below floor":
            lines.append(f"  {c.name} = {c.current:.4f} is under its floor {c.floor:.4f}")
        else:
            lines.append(f"  {c.name} is missing from the workspace (it has a floor)")
    return "\n".join(lines)


def gate_checks(root: Path, thresholds: Path | None = None, rev: str | None = None) -> tuple[list[Check], str]:
    """Every tracked metric's check against the baseline (``rev``, else thresholds.yaml's); and that baseline."""
    config = GateConfig.load(thresholds or root / THRESHOLDS_FILE)
    baseline = rev or config.baseline
    checks = evaluate_gate(metrics_diff(root, baseline), config, noise_in(root, baseline))
    if not checks:
        raise ValueError(f"gate: no metric matches the tracked patterns {sorted(config.track)}")
    return checks, baseline


def run_gate(root: Path, thresholds: Path | None = None, rev: str | None = None) -> tuple[bool, str]:
    """Compare, render, decide: (passed, report text)."""
    checks, baseline = gate_checks(root, thresholds, rev)
    passed = not any(c.failed for c in checks)
    return passed, render_table(checks, baseline) + summary(checks)
