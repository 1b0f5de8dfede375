"""Classification metrics with the same keys for every model and ensemble."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from ferpipe.labels import CLASSES


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1, top-2/3 accuracy and per-class P/R/F1."""
    predicted = probs.argmax(axis=1)
    classes = np.arange(len(CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(labels, predicted)), 6),
        "balanced_accuracy": round(float(balanced_accuracy_score(labels, predicted)), 6),
        "macro_f1": round(float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)), 6),
        "top2_accuracy": round(float(top_k_accuracy_score(labels, probs, k=2, labels=classes)), 6),
        "top3_accuracy": round(float(top_k_accuracy_score(labels, probs, k=3, labels=classes)), 6),
        "n": len(labels),
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
    """The numeric metrics as ``<prefix>/<name>`` keys for MLflow (per-class F1 included)."""
    flat = {f"{prefix}/{k}": float(v) for k, v in metrics.items() if k not in ("per_class", "n")}
    flat.update({f"{prefix}/f1_{name}": float(v["f1"]) for name, v in metrics["per_class"].items()})
    return flat


def headline(test: dict[str, Any], val: dict[str, Any]) -> dict[str, float]:
    """The three numbers DVC compares (``dvc metrics show``, ``dvc exp show``), the same keys for every
    model and ensemble method, so ``dvc metrics show`` is one row per model."""
    return {"test_acc": test["accuracy"], "test_f1": test["macro_f1"], "val_acc": val["accuracy"]}
