"""Classification metrics with the same keys for every model and ensemble."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from ferpipe.evaluate.uncertainty import intervals
from ferpipe.labels import CLASSES

INTERVAL_METRICS = ("accuracy", "macro_f1", "balanced_accuracy")  # each with its 95% interval


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The mean recall over the classes that have faces. A test set without some class (CK+ has no
    neutral) makes scikit-learn warn when a model predicts it; such a prediction is simply wrong."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        return balanced_accuracy_score(labels, predicted)


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1 (each with its 95% interval: ``interval``), top-2/3
    accuracy and per-class P/R/F1."""
    predicted = probs.argmax(axis=1)
    classes = np.arange(len(CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(labels, predicted)), 6),
        "balanced_accuracy": round(float(_balanced_accuracy(labels, predicted)), 6),
        "macro_f1": round(float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)), 6),
        "top2_accuracy": round(float(top_k_accuracy_score(labels, probs, k=2, labels=classes)), 6),
        "top3_accuracy": round(float(top_k_accuracy_score(labels, probs, k=3, labels=classes)), 6),
        "n": len(labels),
        "interval": intervals(labels, predicted),
        "per_class": {
            name: {
                "precision": round(float(p), 6),
                "recall": round(float(r), 6),
                "f1": round(float(f), 6),
                "support": int(s),
            }
            for name, p, r, f, s in zip(CLASSES, precision, recall, f1, support, strict=True)
        },
    }


def flat_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric metrics as ``<prefix>/<name>`` keys for MLflow: per-class F1 as ``f1_<class>``
    and each interval as ``<name>_ci_low`` / ``<name>_ci_high``."""
    flat = {f"{prefix}/{k}": float(v) for k, v in metrics.items() if k not in ("per_class", "n", "interval")}
    flat.update({f"{prefix}/f1_{name}": float(v["f1"]) for name, v in metrics.get("per_class", {}).items()})
    for name, (low, high) in metrics.get("interval", {}).items():
        flat.update({f"{prefix}/{name}_ci_low": float(low), f"{prefix}/{name}_ci_high": float(high)})
    return flat


def with_interval(value: float, interval: list[float] | None, digits: int = 1) -> str:
    """A score as a percentage with its 95% interval: ``66.5% (65.0-68.0)``."""
    if not interval:
        return f"{value * 100:.{digits}f}%"
    return f"{value * 100:.{digits}f}% ({interval[0] * 100:.{digits}f}-{interval[1] * 100:.{digits}f})"


def headline(test: dict[str, Any], val: dict[str, Any]) -> dict[str, float]:
    """The three numbers DVC compares (``dvc metrics show``, ``dvc exp show``), the same keys for every
    model and ensemble method, so ``dvc metrics show`` is one row per model."""
    return {"test_acc": test["accuracy"], "test_f1": test["macro_f1"], "val_acc": val["accuracy"]}
