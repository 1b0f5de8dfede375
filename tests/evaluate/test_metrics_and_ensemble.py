"""Metrics, ensembles and confusion plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferpipe.evaluate.ensemble import average, fit_weights, majority_vote, weighted_average
from ferpipe.evaluate.metrics import classification_metrics, flat_metrics, softmax
from ferpipe.evaluate.plots import write_confusion_csv, write_confusion_png


def _onehot(labels: list[int], confidence: float = 0.9) -> np.ndarray:
    probs = np.full((len(labels), 7), (1 - confidence) / 6)
    probs[np.arange(len(labels)), labels] = confidence
    return probs


def test_metrics_on_a_known_case() -> None:
    labels = np.array([0, 0, 1, 3])
    probs = _onehot([0, 1, 1, 3])
    probs[1, 0] = 0.05  # the miss has the true class second
    m = classification_metrics(labels, probs)
    assert m["accuracy"] == 0.75 and m["n"] == 4
    assert m["per_class"]["angry"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3, abs=1e-6),
        "support": 2,
    }
    assert m["top2_accuracy"] == 1.0
    flat = flat_metrics(m, "test")
    assert flat["test/accuracy"] == 0.75 and "test/f1_happy" in flat


def test_softmax_rows_sum_to_one() -> None:
    p = softmax(np.array([[1000.0, 0.0], [1.0, 1.0]]))
    assert np.allclose(p.sum(1), 1) and np.allclose(p[1], 0.5)


def test_weighted_average_favours_the_better_member() -> None:
    labels = np.array([0, 1, 2, 3] * 10)
    good = _onehot(labels.tolist())
    bad = _onehot(((labels + 1) % 7).tolist())
    weights = fit_weights([good, bad], labels)
    assert weights.sum() == pytest.approx(1) and weights[0] > 0.9
    assert (weighted_average([good, bad], weights).argmax(1) == labels).all()
    assert np.allclose(average([good, bad]), (good + bad) / 2)


def test_majority_vote_breaks_ties_by_mean_probability() -> None:
    a = _onehot([0, 2], 0.9)
    b = _onehot([1, 2], 0.6)
    c = _onehot([0, 3], 0.4)
    assert majority_vote([a, b, c]).argmax(1).tolist() == [0, 2]
    # one vote each for classes 0 and 1: the more confident member wins the tie
    assert majority_vote([a, b]).argmax(1).tolist() == [0, 2]
    assert majority_vote([b, _onehot([0, 2], 0.3)]).argmax(1)[0] == 1


def test_confusion_files(tmp_path) -> None:
    labels, predicted = np.array([0, 1, 6]), np.array([0, 6, 6])
    write_confusion_csv(tmp_path / "c.csv", labels, predicted)
    frame = pd.read_csv(tmp_path / "c.csv")
    assert frame.to_dict("list") == {
        "actual": ["angry", "disgust", "neutral"],
        "predicted": ["angry", "neutral", "neutral"],
    }
    write_confusion_png(tmp_path / "c.png", labels, predicted, "test")
    first = (tmp_path / "c.png").read_bytes()
    write_confusion_png(tmp_path / "c.png", labels, predicted, "test")
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "c.png").read_bytes() == first
