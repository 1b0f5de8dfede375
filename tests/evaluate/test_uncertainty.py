"""Intervals and paired tests, recomputed by hand on small cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from ferpipe.evaluate.uncertainty import (
    _balanced_accuracy,
    _confusions,
    _macro_f1,
    compare,
    compare_over_seeds,
    intervals,
    wilson,
)
from ferpipe.labels import CLASSES


def test_wilsons_interval_matches_the_formula() -> None:
    z = 1.959963984540054
    p, n = 0.8, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson(8, 10) == pytest.approx((centre - half, centre + half), abs=1e-9)  # (0.490, 0.943)
    low, high = wilson(2395, 3589)  # 66.7% on PublicTest's 3,589 faces: about +-1.5 points
    assert high - low == pytest.approx(0.0308, abs=0.0005)


def test_the_bootstrap_reproduces_scikit_learns_scores_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    labels, predicted = rng.integers(0, 7, 300), rng.integers(0, 7, 300)
    predicted[:150] = labels[:150]
    whole = _confusions(labels, predicted, np.arange(300)[None])
    classes = np.arange(len(CLASSES))
    assert _macro_f1(whole)[0] == pytest.approx(f1_score(labels, predicted, labels=classes, average="macro"))
    assert _balanced_accuracy(whole)[0] == pytest.approx(balanced_accuracy_score(labels, predicted))
    first, again = intervals(labels, predicted), intervals(labels, predicted)
    assert first == again and set(first) == {"accuracy", "macro_f1", "balanced_accuracy"}
    f1 = f1_score(labels, predicted, labels=classes, average="macro")
    assert first["macro_f1"][0] < f1 < first["macro_f1"][1]
    assert intervals(labels, predicted, seed=1) != first


def test_mcnemar_and_the_paired_interval_by_hand() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2] * 3)
    a = labels.copy()
    b = labels.copy()
    a[[0, 1, 2, 3, 4]] = 6  # A misses five faces B gets right
    b[[20]] = 6  # B misses one face A gets right
    found = compare(labels, a, b, ("A", "B"))
    assert (found.only_a_right, found.only_b_right) == (1, 5)
    assert found.p_value == pytest.approx(2 * (1 + 6) / 2**6)  # two-sided binomial, 1 of 6 discordant: 0.21875
    assert found.difference == pytest.approx(4 / 30)
    assert found.interval[0] <= found.difference <= found.interval[1]
    assert not found.beyond_noise and "within noise" in found.sentence()
    assert found.per_class["angry"] == pytest.approx(11 / 12 - 8 / 12)  # class 0: A misses 4 of 12 faces, B 1


def test_a_large_paired_difference_is_beyond_noise_and_said_plainly() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 3589)
    a = np.where(rng.random(3589) < 0.65, labels, (labels + 1) % 7)
    b = np.where(rng.random(3589) < 0.10, labels, a)  # B fixes about 10% of the faces
    found = compare(labels, a, b, ("cnn", "ensemble_average"))
    assert found.beyond_noise and found.p_value < 1e-6
    assert found.sentence().startswith(f"ensemble_average is {found.difference * 100:.1f} points better than cnn")
    with pytest.raises(ValueError, match="the same faces"):
        compare(labels, a, b[:-1])


def test_the_unpaired_interval_is_newcombes_and_wider_than_the_paired_one() -> None:
    from ferpipe.evaluate.uncertainty import unpaired_difference_interval

    low, high = unpaired_difference_interval(48 / 80, 80, 56 / 70, 70)  # Newcombe (1998)'s example, method 10
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=0.00005)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 3589)
    a = np.where(rng.random(3589) < 0.66, labels, (labels + 1) % 7)
    b = np.where(rng.random(3589) < 0.03, labels, a)
    paired = compare(labels, a, b).interval
    unpaired = unpaired_difference_interval((a == labels).mean(), 3589, (b == labels).mean(), 3589)
    assert unpaired[1] - unpaired[0] > 2 * (paired[1] - paired[0])


def test_the_paired_macro_f1_interval_is_seeded_and_holds_the_difference() -> None:
    from ferpipe.evaluate.uncertainty import paired_macro_f1_interval

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 7, 500)
    a = np.where(rng.random(500) < 0.6, labels, (labels + 1) % 7)
    b = np.where(rng.random(500) < 0.2, labels, a)
    classes = np.arange(len(CLASSES))
    gain = f1_score(labels, b, labels=classes, average="macro") - f1_score(labels, a, labels=classes, average="macro")
    low, high = paired_macro_f1_interval(labels, a, b)
    assert low < gain < high and (low, high) == paired_macro_f1_interval(labels, a, b)


def test_recipes_over_seeds_are_paired_seed_by_seed_and_pooled_face_by_face() -> None:
    """Two seeds of each recipe on 8 faces, by hand: B's gains per face, averaged over the seeds, are
    (1, 1, 0.5, 0, 0, 0, -0.5, 0) -> mean 2/8; each seed's pair is compare()'s test."""
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 0])
    a = [np.array([1, 2, 2, 3, 4, 5, 6, 0]), np.array([1, 2, 3, 3, 4, 5, 6, 0])]
    b = [np.array([0, 1, 2, 3, 4, 5, 0, 0]), np.array([0, 1, 2, 3, 4, 5, 6, 0])]
    found = compare_over_seeds(labels, a, b, ("A", "B"), [0, 1])
    assert found.difference == pytest.approx(2 / 8)
    assert [c.difference for c in found.per_seed] == pytest.approx([1 / 8, 3 / 8])
    assert found.per_seed[1].p_value == compare(labels, a[1], b[1]).p_value
    assert found.spread == pytest.approx((1 / 8, 3 / 8))
    assert found.interval[0] <= found.difference <= found.interval[1]
    assert not found.beyond_noise and "within noise" in found.sentence()  # 8 faces decide nothing


def test_a_recipe_against_itself_over_seeds_is_no_difference_and_a_real_gain_is_beyond_noise() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 3000)
    right = lambda share: np.where(rng.random(3000) < share, labels, (labels + 1) % 7)  # noqa: E731
    same = [right(0.65) for _ in range(3)]
    assert compare_over_seeds(labels, same, same, ("A", "B"), [0, 1, 2]).p_value == 1.0
    better = [right(0.70) for _ in range(3)]
    found = compare_over_seeds(labels, same, better, ("A", "B"), [0, 1, 2])
    assert found.beyond_noise and found.p_value < 0.001 and 0.03 < found.difference < 0.07
    assert compare_over_seeds(labels, same, better, ("A", "B"), [0, 1, 2]).as_dict() == found.as_dict()  # seeded
    with pytest.raises(ValueError, match="3 seeds, but 3 and 2 prediction sets"):
        compare_over_seeds(labels, same, better[:2], ("A", "B"), [0, 1, 2])
