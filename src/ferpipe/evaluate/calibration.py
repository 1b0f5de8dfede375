"""How sure a prediction really is: expected calibration error, reliability bins, temperature scaling.

Definitions follow Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017): the
predictions are binned by confidence (the top probability) into equal-width bins over [0, 1];
ECE is the bin-size-weighted mean of |accuracy - mean confidence|. Temperature scaling divides
the logits by one number T fitted on validation (never test) by log loss; it leaves every argmax,
so accuracy and the confusion matrix do not move. Probabilities are scaled through their logs
(``softmax(log p / T)``), which for a single model is exactly ``softmax(logits / T)`` and applies
the same way to an ensemble's combined probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

BINS = 15  # Guo et al.'s choice
TEMPERATURE_RANGE = (0.05, 20.0)
EPS = 1e-12  # keeps log(0) finite for probabilities that are exactly zero (a vote share)


def _bin_stats(labels: np.ndarray, probs: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin: the count, the mean confidence and the accuracy (0 for an empty bin)."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # [k/bins, (k+1)/bins), the last one closed
    counts = np.bincount(which, minlength=bins)
    shown = np.maximum(counts, 1)
    return counts, np.bincount(which, confidence, bins) / shown, np.bincount(which, correct, bins) / shown


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """The reliability diagram's data: per confidence bin, its edges, how many predictions fell in
    it, their mean confidence and their accuracy (both 0 for an empty bin)."""
    counts, confidence, accuracy = _bin_stats(labels, probs, bins)
    return [
        {
            "lower": round(b / bins, 6),
            "upper": round((b + 1) / bins, 6),
            "count": int(counts[b]),
            "confidence": round(float(confidence[b]), 6),
            "accuracy": round(float(accuracy[b]), 6),
        }
        for b in range(bins)
    ]


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = BINS) -> float:
    """ECE: the sum over bins of (bin size / n) * |accuracy - mean confidence|."""
    counts, confidence, accuracy = _bin_stats(labels, probs, bins)
    return float(np.sum(counts * np.abs(accuracy - confidence)) / len(labels))


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at temperature ``temperature`` (1 leaves them as they are)."""
    if temperature == 1.0:
        return probs
    return softmax(np.log(np.clip(probs, EPS, None)) / temperature, axis=1)


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], EPS, None))))


def fit_temperature(labels: np.ndarray, probs: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE that minimises the log loss of ``scale(probs, T)`` (fit on validation)."""
    logs = np.log(np.clip(probs, EPS, None))
    rows = np.arange(len(labels))

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(logs / np.exp(log_t), axis=1)[rows, labels]))

    low, high = np.log(TEMPERATURE_RANGE)
    return round(float(np.exp(minimize_scalar(loss, bounds=(low, high), method="bounded").x)), 6)


def calibrate(labels: dict[str, np.ndarray], probs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fit T on ``val`` and report, for ``val`` and ``test``, ECE and log loss before and after
    scaling with their reliability bins: the block every model and ensemble method carries."""
    temperature = fit_temperature(labels["val"], probs["val"])
    summary: dict[str, Any] = {"temperature": temperature, "bins": BINS}
    for split in ("val", "test"):
        scaled = scale(probs[split], temperature)
        summary[split] = {
            "ece": round(expected_calibration_error(labels[split], probs[split]), 6),
            "ece_scaled": round(expected_calibration_error(labels[split], scaled), 6),
            "log_loss": round(log_loss(labels[split], probs[split]), 6),
            "log_loss_scaled": round(log_loss(labels[split], scaled), 6),
            "reliability": reliability(labels[split], probs[split]),
            "reliability_scaled": reliability(labels[split], scaled),
        }
    return summary


def mlflow_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The calibration figures under the keys every model and ensemble run shares."""
    out = {"calibration/temperature": float(summary["temperature"])}
    for split in ("val", "test"):
        for key in ("ece", "ece_scaled", "log_loss", "log_loss_scaled"):
            out[f"calibration/{split}_{key}"] = float(summary[split][key])
    return out


def temperature_of(scores: dict[str, Any]) -> float:
    """The temperature in a model's or method's scores (``metrics/details``); 1, i.e. the
    probabilities as scored, where the evaluation has not fitted one."""
    return float(scores.get("calibration", {}).get("temperature", 1.0))
