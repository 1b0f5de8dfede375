"""Cross-dataset test sets: the standard protocol of FER papers (train on FER2013, test on CK+ or
JAFFE). A source declared ``read.role: test_only`` is never trained on and never chooses anything
(not the epochs, not the ensemble's weights, not the champion); every model, ensemble method and
student is scored on it, one source at a time, beside the test split."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix

from ferpipe.evaluate.metrics import classification_metrics, flat_metrics
from ferpipe.labels import CLASSES


def cross_split(source: str) -> str:
    """The name a test-only source's probabilities are saved under, beside ``val`` and ``test``."""
    return f"cross_{source}"


def score_cross(labels: dict[str, np.ndarray], probs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per test-only source: accuracy, balanced accuracy and macro F1 with their 95% intervals,
    per-class precision/recall/F1, and the confusion matrix (rows: true class, in ``CLASSES`` order)."""
    scores = {}
    for source, truth in labels.items():
        predicted = probs[source].argmax(axis=1)
        matrix = confusion_matrix(truth, predicted, labels=np.arange(len(CLASSES)))
        scores[source] = classification_metrics(truth, probs[source]) | {"confusion": matrix.tolist()}
    return scores


def cross_mlflow_metrics(cross: dict[str, Any]) -> dict[str, float]:
    """``cross/<source>/accuracy`` and the rest, for each test-only source."""
    flat: dict[str, float] = {}
    for source, metrics in cross.items():
        flat |= flat_metrics({k: v for k, v in metrics.items() if k != "confusion"}, f"cross/{source}")
    return flat
