"""The gate's verdicts on a ``dvc metrics diff``: tolerance, floors, untracked and missing metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferpipe.checks.gate import GateConfig, evaluate_gate, summary

CONFIG = GateConfig(
    baseline="HEAD",
    track={"metrics/*.json:test.accuracy": 0.02, "metrics/ensemble.json:*.test.accuracy": 0.02},
    floors={"metrics/cnn.json:test.accuracy": 0.5},
)


def _by_name(diff: dict) -> dict:
    return {c.name: c for c in evaluate_gate(diff, CONFIG)}


def test_a_fall_within_tolerance_passes_and_beyond_it_fails() -> None:
    checks = _by_name(
        {
            "metrics/cnn.json": {"test.accuracy": {"old": 0.80, "new": 0.79}},
            "metrics/logreg.json": {"test.accuracy": {"old": 0.60, "new": 0.50}},
        }
    )
    assert checks["metrics/cnn.json:test.accuracy"].status == "ok"
    regressed = checks["metrics/logreg.json:test.accuracy"]
    assert regressed.status == "regressed" and regressed.failed
    assert "metrics/logreg.json:test.accuracy fell 0.1000" in summary(list(checks.values()))


def test_a_floor_fails_even_without_a_baseline() -> None:
    checks = _by_name({"metrics/cnn.json": {"test.accuracy": {"old": None, "new": 0.4}}})
    assert checks["metrics/cnn.json:test.accuracy"].status == "below floor"


def test_improvements_new_metrics_and_untracked_keys() -> None:
    checks = _by_name(
        {
            "metrics/cnn.json": {"test.accuracy": {"old": 0.6, "new": 0.9}, "test.n": {"old": 500, "new": 10}},
            "metrics/ensemble.json": {"vote.test.accuracy": {"old": None, "new": 0.7}},
            "metrics/audit.json": {"pairs": {"old": 3, "new": 0}},
        }
    )
    assert set(checks) == {"metrics/cnn.json:test.accuracy", "metrics/ensemble.json:vote.test.accuracy"}
    assert checks["metrics/cnn.json:test.accuracy"].status == "ok"
    assert checks["metrics/ensemble.json:vote.test.accuracy"].status == "new"
    assert "gate passed" in summary(list(checks.values()))


def test_a_floored_metric_that_disappeared_fails_and_a_removed_model_does_not() -> None:
    checks = _by_name(
        {
            "metrics/cnn.json": {"test.accuracy": {"old": 0.8, "new": None}},
            "metrics/logreg.json": {"test.accuracy": {"old": 0.6, "new": None}},
        }
    )
    assert checks["metrics/cnn.json:test.accuracy"].status == "missing"
    assert checks["metrics/logreg.json:test.accuracy"].status == "removed"
    assert not checks["metrics/logreg.json:test.accuracy"].failed


def test_the_repo_thresholds_file_loads_and_a_broken_one_is_named(tmp_path: Path) -> None:
    from tests.conftest import REPO

    config = GateConfig.load(REPO / "thresholds.yaml")
    assert config.tolerance("metrics/cnn.json:test_acc") is not None
    assert config.tolerance("metrics/audit.json:pairs.exact") is None
    broken = tmp_path / "thresholds.yaml"
    broken.write_text("gate: {floors: {}}\n")
    with pytest.raises(ValueError, match=r"thresholds\.yaml"):
        GateConfig.load(broken)


def _noise(low: float, high: float, paired: bool = True):
    from ferpipe.checks.gate import Noise

    return lambda name, old, new: Noise(low, high, paired)


def test_each_change_says_whether_it_is_beyond_noise_and_a_param_can_fail_on_it() -> None:
    import dataclasses

    from ferpipe.checks.gate import render_table

    diff = {"metrics/cnn.json": {"test.accuracy": {"old": 0.80, "new": 0.79}}}
    small_drop = evaluate_gate(diff, CONFIG, _noise(-0.018, -0.002))[0]  # paired: a real fall, within tolerance
    assert small_drop.noise.verdict == "beyond" and small_drop.status == "ok"  # tolerance decides by default
    strict = dataclasses.replace(CONFIG, fail_on="beyond_noise")
    failed = evaluate_gate(diff, strict, _noise(-0.018, -0.002))[0]
    assert failed.status == "regressed" and "fell 0.0100 (beyond noise)" in summary([failed])
    within = evaluate_gate(diff, strict, _noise(-0.04, 0.02, paired=False))[0]
    assert within.status == "ok" and within.noise.verdict == "within"
    table = render_table([within], "HEAD")
    assert "-0.040..+0.020 *" in table and "within" in table and "a fall beyond noise fails" in table


def test_the_failure_rule_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text("gate:\n  track: {'metrics/*.json:test_acc': 0.04}\n  fail_on: significance\n")
    with pytest.raises(ValueError, match=r"gate\.fail_on 'significance': choose one of tolerance, beyond_noise"):
        GateConfig.load(path)
