"""How sure a score is, and whether two models really differ: intervals and paired tests.

- Accuracy gets **Wilson's interval** (a count of correct faces out of n is a binomial
  proportion; Wilson's interval keeps its 95% coverage near 0 and 1 and on small n, where the
  normal approximation does not, and needs no resampling, so it is exact to recompute by hand).
- Macro F1 and balanced accuracy are not proportions: they get a **seeded percentile bootstrap**
  over the faces (the same seed, the same interval).
- Two models scored on the same faces are compared **paired**: McNemar's exact test on the faces
  exactly one of them gets right (a two-sided binomial test of those discordant counts), and a
  paired bootstrap interval of the accuracy difference. Both see far smaller differences than two
  separate intervals, because the models' errors on the same faces are correlated.
- Two recipes trained under the same seeds are compared seed by seed (the paired test above) and
  pooled over the faces: each face's gain averaged over the seeds, with a bootstrap interval and a
  sign-flip permutation test.

scipy computes the binomial pieces; the bootstrap is a few vectorised lines over confusion counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from ferpipe.labels import CLASSES

LEVEL = 0.95
RESAMPLES = 1000
SEED = 0
ALPHA = 0.05  # "beyond noise": p below this and the difference's interval excludes zero


def wilson(correct: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson's score interval of ``correct / n``."""
    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(int(correct), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return (float(ci.low), float(ci.high))


def _confusions(labels: np.ndarray, predicted: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """(resamples, classes, classes) confusion counts of each bootstrap draw of the faces."""
    k = len(CLASSES)
    cells = labels[draws] * k + predicted[draws]
    offsets = np.arange(len(draws))[:, None] * k * k
    return np.bincount((cells + offsets).ravel(), minlength=len(draws) * k * k).reshape(len(draws), k, k)


def _macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Macro F1 of each confusion matrix, as scikit-learn computes it (a class absent from both
    labels and predictions scores 0 and still counts)."""
    true_pos = np.diagonal(confusion, axis1=1, axis2=2)
    denominator = confusion.sum(axis=2) + confusion.sum(axis=1)
    f1 = np.divide(2 * true_pos, denominator, out=np.zeros(true_pos.shape), where=denominator > 0)
    return f1.mean(axis=1)


def _balanced_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in each draw (scikit-learn's balanced accuracy)."""
    support = confusion.sum(axis=2)
    recall = np.divide(
        np.diagonal(confusion, axis1=1, axis2=2), support, out=np.zeros(support.shape), where=support > 0
    )
    return recall.sum(axis=1) / np.maximum((support > 0).sum(axis=1), 1)


def _central(values: np.ndarray) -> tuple[float, float]:
    """The central ``LEVEL`` percentile interval of bootstrap draws."""
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _beyond_noise(p_value: float, interval: tuple[float, float]) -> bool:
    """A difference is beyond noise when its test rejects and its interval leaves out zero."""
    return p_value < ALPHA and not interval[0] <= 0.0 <= interval[1]


def _draws(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def intervals(
    labels: np.ndarray, predicted: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, list[float]]:
    """95% intervals of accuracy (Wilson), macro F1 and balanced accuracy (seeded bootstrap)."""
    labels, predicted = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    out = {"accuracy": list(wilson(int((labels == predicted).sum()), len(labels)))}
    if len(labels) == 0:
        return out | {"macro_f1": [0.0, 1.0], "balanced_accuracy": [0.0, 1.0]}
    confusion = _confusions(labels, predicted, _draws(len(labels), resamples, seed))
    for name, values in (("macro_f1", _macro_f1(confusion)), ("balanced_accuracy", _balanced_accuracy(confusion))):
        out[name] = list(_central(values))
    return {name: [round(low, 6), round(high, 6)] for name, (low, high) in out.items()}


@dataclass(frozen=True)
class Comparison:
    """B against A on the same faces."""

    a: str
    b: str
    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float  # accuracy of B minus accuracy of A
    interval: tuple[float, float]  # paired bootstrap, 95%
    only_a_right: int  # McNemar's discordant counts
    only_b_right: int
    p_value: float  # McNemar's exact test, two-sided
    per_class: dict[str, float]  # recall of B minus recall of A, per class

    @property
    def beyond_noise(self) -> bool:
        return _beyond_noise(self.p_value, self.interval)

    def sentence(self) -> str:
        """One plain line: which is better, by how much, and whether that is beyond noise."""
        points = abs(self.difference) * 100
        if not self.beyond_noise:
            return (
                f"{self.b} and {self.a} are within noise: {self.b} {self.difference * 100:+.1f} points "
                f"(95% interval {self.interval[0] * 100:+.1f} to {self.interval[1] * 100:+.1f}, p={self.p_value:.2g}, "
                f"{self.n} faces)"
            )
        better, worse = (self.b, self.a) if self.difference > 0 else (self.a, self.b)
        return (
            f"{better} is {points:.1f} points better than {worse}, beyond noise (p={self.p_value:.2g}; 95% interval "
            f"of {self.b} - {self.a}: {self.interval[0] * 100:+.1f} to {self.interval[1] * 100:+.1f} points, "
            f"{self.n} faces)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "n": self.n,
            "accuracy_a": round(self.accuracy_a, 6),
            "accuracy_b": round(self.accuracy_b, 6),
            "difference": round(self.difference, 6),
            "interval": [round(v, 6) for v in self.interval],
            "only_a_right": self.only_a_right,
            "only_b_right": self.only_b_right,
            "p_value": float(f"{self.p_value:.6g}"),
            "beyond_noise": self.beyond_noise,
            "per_class_recall_difference": {k: round(v, 6) for k, v in self.per_class.items()},
            "sentence": self.sentence(),
        }


def compare(
    labels: np.ndarray,
    predicted_a: np.ndarray,
    predicted_b: np.ndarray,
    names: tuple[str, str] = ("A", "B"),
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Comparison:
    """B against A, paired on the same faces: McNemar's exact test and a paired bootstrap interval."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted_a, predicted_b = np.asarray(predicted_a), np.asarray(predicted_b)
    if not len(labels) == len(predicted_a) == len(predicted_b):
        raise ValueError(
            f"paired comparison needs the same faces: {len(labels)} labels, "
            f"{len(predicted_a)} and {len(predicted_b)} predictions"
        )
    right_a, right_b = predicted_a == labels, predicted_b == labels
    n = len(labels)
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    p_value = float(binomtest(only_b, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
    gain = right_b.astype(np.float64) - right_a
    differences = gain[_draws(n, resamples, seed)].mean(axis=1) if n else np.zeros(1)
    low, high = _central(differences)
    per_class = {}
    for index, name in enumerate(CLASSES):
        mask = labels == index
        if mask.any():
            per_class[name] = float(right_b[mask].mean() - right_a[mask].mean())
    return Comparison(
        names[0],
        names[1],
        n,
        float(right_a.mean()) if n else 0.0,
        float(right_b.mean()) if n else 0.0,
        float(gain.mean()) if n else 0.0,
        (float(low), float(high)),
        only_a,
        only_b,
        p_value,
        per_class,
    )


def paired(
    labels: dict[str, np.ndarray],
    predicted_a: dict[str, np.ndarray],
    predicted_b: dict[str, np.ndarray],
    names: tuple[str, str],
) -> dict[str, dict[str, Any]]:
    """B against A on each split's faces (validation and test), as :meth:`Comparison.as_dict` records."""
    return {split: compare(labels[split], predicted_a[split], predicted_b[split], names).as_dict() for split in labels}


def paired_metrics(found: dict[str, dict[str, Any]], key: str) -> dict[str, float]:
    """A paired comparison as MLflow metrics: ``<split>/gain_<key>`` (points of accuracy, B - A), its
    interval and McNemar's p-value."""
    out = {}
    for split, record in found.items():
        prefix = "val_final" if split == "val" else split
        out[f"{prefix}/gain_{key}"] = record["difference"]
        out[f"{prefix}/gain_{key}_ci_low"], out[f"{prefix}/gain_{key}_ci_high"] = record["interval"]
        out[f"{prefix}/gain_{key}_p"] = record["p_value"]
    return out


def paired_macro_f1_interval(
    labels: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, float]:
    """95% paired bootstrap interval of macro F1 of B minus A: both scored on the same draws of faces."""
    labels = np.asarray(labels, dtype=np.int64)
    draws = _draws(len(labels), resamples, seed)
    gain = _macro_f1(_confusions(labels, np.asarray(predicted_b), draws)) - _macro_f1(
        _confusions(labels, np.asarray(predicted_a), draws)
    )
    return _central(gain)


def unpaired_difference_interval(p_a: float, n_a: int, p_b: float, n_b: int) -> tuple[float, float]:
    """95% interval of B - A for two accuracies on separate samples (Newcombe's hybrid score method
    from each one's Wilson interval): wider than a paired interval, used when the predictions of one
    side cannot be had."""
    low_a, high_a = wilson(round(p_a * n_a), n_a)
    low_b, high_b = wilson(round(p_b * n_b), n_b)
    difference = p_b - p_a
    return (
        difference - float(np.hypot(p_b - low_b, high_a - p_a)),
        difference + float(np.hypot(high_b - p_b, p_a - low_a)),
    )


@dataclass(frozen=True)
class SeedComparison:
    """Recipe B against recipe A over seeds: seed s of B paired with seed s of A on the same faces."""

    a: str
    b: str
    n: int
    seeds: list[int]
    per_seed: list[Comparison]
    difference: float  # mean over the seeds of B's accuracy minus A's
    interval: tuple[float, float]  # 95%, bootstrap over the faces of each face's gain averaged over the seeds
    p_value: float  # sign-flip permutation test over the faces of that averaged gain

    @property
    def beyond_noise(self) -> bool:
        return _beyond_noise(self.p_value, self.interval)

    @property
    def spread(self) -> tuple[float, float]:
        """The smallest and largest difference of one seed's pair."""
        differences = [c.difference for c in self.per_seed]
        return min(differences), max(differences)

    def sentence(self) -> str:
        low, high = self.interval
        verdict = "beyond noise" if self.beyond_noise else "within noise"
        return (
            f"over seeds {', '.join(map(str, self.seeds))}, {self.b} is {self.difference * 100:+.1f} points against "
            f"{self.a}, {verdict} (p={self.p_value:.2g}; 95% interval {low * 100:+.1f} to {high * 100:+.1f} over "
            f"{self.n} faces; one seed's pair: {self.spread[0] * 100:+.1f} to {self.spread[1] * 100:+.1f})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "n": self.n,
            "seeds": self.seeds,
            "difference": round(self.difference, 6),
            "interval": [round(v, 6) for v in self.interval],
            "p_value": float(f"{self.p_value:.6g}"),
            "beyond_noise": self.beyond_noise,
            "per_seed": {str(seed): c.as_dict() for seed, c in zip(self.seeds, self.per_seed, strict=True)},
            "sentence": self.sentence(),
        }


def compare_over_seeds(
    labels: np.ndarray,
    predicted_a: Sequence[np.ndarray],
    predicted_b: Sequence[np.ndarray],
    names: tuple[str, str],
    seeds: Sequence[int],
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> SeedComparison:
    """Recipe B against recipe A, each trained under the same ``seeds`` and scored on the same faces.

    Each seed's pair gets the paired test of :func:`compare`. Pooled, the unit is the face: its gain
    (right under B minus right under A) averaged over the seeds, so a face that one recipe gets right
    under every seed counts fully and one it gets right under one seed in three counts a third. The
    interval is a seeded bootstrap over the faces of that mean gain, and the p-value a sign-flip
    permutation test of it (``scipy.stats.permutation_test``): under "the recipes do not differ" each
    face's averaged gain is as likely negative as positive. What it does not cover is the choice of
    seeds: the per-seed range shows that."""
    from scipy.stats import permutation_test

    labels = np.asarray(labels, dtype=np.int64)
    if len(predicted_a) != len(seeds) or len(predicted_b) != len(seeds):
        raise ValueError(f"{len(seeds)} seeds, but {len(predicted_a)} and {len(predicted_b)} prediction sets")
    per_seed = [
        compare(labels, a, b, (f"{names[0]} (seed {s})", f"{names[1]} (seed {s})"), resamples, seed)
        for s, a, b in zip(seeds, predicted_a, predicted_b, strict=True)
    ]
    gains = np.mean(
        [
            (np.asarray(b) == labels).astype(np.float64) - (np.asarray(a) == labels)
            for a, b in zip(predicted_a, predicted_b, strict=True)
        ],
        axis=0,
    )
    draws = gains[_draws(len(gains), resamples, seed)].mean(axis=1)
    low, high = _central(draws)
    if np.any(gains):
        tested = permutation_test(
            (gains,), np.mean, permutation_type="samples", n_resamples=9999, random_state=seed, vectorized=True
        )
        p_value = float(tested.pvalue)
    else:
        p_value = 1.0
    return SeedComparison(
        names[0], names[1], len(labels), list(seeds), per_seed, float(gains.mean()), (float(low), float(high)), p_value
    )
