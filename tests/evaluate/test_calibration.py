"""Calibration figures against their definitions, on cases small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from ferpipe.evaluate.calibration import (
    calibrate,
    expected_calibration_error,
    fit_temperature,
    log_loss,
    reliability,
    scale,
)

# four predictions over 3 classes, 10 bins: confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.4 (wrong)
PROBS = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.6, 0.2], [0.4, 0.35, 0.25]])
LABELS = np.array([0, 1, 1, 2])


def test_ece_by_hand() -> None:
    # bin 9: 2 predictions, accuracy 0.5, confidence 0.9 -> 2/4 * 0.4; bin 6: 1/4 * |1 - 0.6|; bin 4: 1/4 * |0 - 0.4|
    assert expected_calibration_error(LABELS, PROBS, bins=10) == pytest.approx(0.2 + 0.1 + 0.1)


def test_reliability_bins_by_hand() -> None:
    rows = reliability(LABELS, PROBS, bins=10)
    assert [r["count"] for r in rows] == [0, 0, 0, 0, 1, 0, 1, 0, 0, 2]
    assert rows[9] == {"lower": 0.9, "upper": 1.0, "count": 2, "confidence": 0.9, "accuracy": 0.5}
    assert rows[6]["accuracy"] == 1.0 and rows[4]["accuracy"] == 0.0
    assert rows[0] == {"lower": 0.0, "upper": 0.1, "count": 0, "confidence": 0.0, "accuracy": 0.0}


def test_a_confidence_of_one_falls_in_the_last_bin() -> None:
    rows = reliability(np.array([0]), np.array([[1.0, 0.0]]), bins=5)
    assert rows[-1]["count"] == 1


def test_scaling_probabilities_is_scaling_logits() -> None:
    logits = np.random.default_rng(0).normal(size=(50, 7)) * 3
    assert np.allclose(scale(softmax(logits, axis=1), 2.5), softmax(logits / 2.5, axis=1))
    assert scale(PROBS, 1.0) is PROBS
    assert (scale(softmax(logits, axis=1), 0.3).argmax(axis=1) == logits.argmax(axis=1)).all()


def test_the_fitted_temperature_undoes_overconfidence() -> None:
    """Labels drawn from softmax(z); the model says softmax(3z): T near 3, ECE and log loss fall."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(20000, 7))
    labels = np.array([rng.choice(7, p=p) for p in softmax(logits, axis=1)])
    overconfident = softmax(3 * logits, axis=1)
    assert fit_temperature(labels, overconfident) == pytest.approx(3.0, rel=0.05)
    scaled = scale(overconfident, fit_temperature(labels, overconfident))
    assert expected_calibration_error(labels, scaled) < expected_calibration_error(labels, overconfident) / 3
    assert log_loss(labels, scaled) < log_loss(labels, overconfident)


def test_calibrate_fits_on_validation_and_reports_both_splits() -> None:
    rng = np.random.default_rng(2)
    logits = {s: rng.normal(size=(3000, 7)) for s in ("val", "test")}
    labels = {s: np.array([rng.choice(7, p=p) for p in softmax(z, axis=1)]) for s, z in logits.items()}
    probs = {s: softmax(2 * z, axis=1) for s, z in logits.items()}
    summary = calibrate(labels, probs)
    assert summary["temperature"] == fit_temperature(labels["val"], probs["val"])  # validation only
    for split in ("val", "test"):
        block = summary[split]
        assert block["ece_scaled"] < block["ece"] and block["log_loss_scaled"] < block["log_loss"]
        assert sum(r["count"] for r in block["reliability"]) == 3000
