"""Robustness: the corrupted test faces are seeded and the same for every model, harsher with severity,
the bands sit where the eyes and the mouth are, and the scores are recomputable by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ferpipe.evaluate import ensemble as ens
from ferpipe.evaluate import robustness as rb

RNG = np.random.default_rng(0)
FACES = RNG.integers(40, 220, size=(12, 48, 48), dtype=np.uint8)


def test_the_corrupted_faces_are_seeded_and_in_view_order() -> None:
    first, again = rb.corrupted(FACES), rb.corrupted(FACES)
    assert first.shape == (len(rb.views()), *FACES.shape) and first.dtype == np.uint8
    assert np.array_equal(first, again)  # the same faces for every model, run after run
    assert len(rb.views()) == 7 * 3 and rb.views()[:3] == [
        ("gaussian_noise", 1),
        ("gaussian_noise", 2),
        ("gaussian_noise", 3),
    ]
    assert not np.array_equal(rb.corrupted(FACES, seed=1)[0], first[0])  # the seed matters


@pytest.mark.parametrize("corruption", list(rb.CORRUPTIONS))
def test_every_corruption_changes_the_faces_more_as_severity_grows(corruption: str) -> None:
    damage = [
        np.abs(rb.CORRUPTIONS[corruption](FACES, severity, 0).astype(float) - FACES).mean()
        for severity in rb.SEVERITIES
    ]
    assert 0 < damage[0] < damage[1] < damage[2], damage


def test_the_bands_cover_the_eye_and_mouth_rows_only() -> None:
    white = np.full((2, 48, 48), 255, dtype=np.uint8)
    for corruption, row in (("occlude_eyes", 17), ("occlude_mouth", 36)):  # FER2013's mean face: eyes, mouth
        for severity in rb.SEVERITIES:
            dark_rows = np.flatnonzero((rb.CORRUPTIONS[corruption](white, severity, 0) == 0).all(axis=(0, 2)))
            assert row in dark_rows
            assert len(dark_rows) == round(rb.BAND_HEIGHTS[severity - 1] * 48)
    assert rb.CORRUPTIONS["occlude_eyes"](white, 3, 0)[:, 36].min() == 255  # the eye band leaves the mouth


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_scores_are_accuracies_with_wilson_intervals_and_the_weakest_is_the_lowest_mean() -> None:
    labels = np.arange(10) % 7
    right = dict(zip(rb.CORRUPTIONS, (9, 8, 7, 6, 5, 2, 4), strict=True))
    stacked = [np.eye(7)[labels]]  # clean first: all right
    for name, severity in rb.views():
        correct = right[name] - (severity - 1) // 2  # severity 3 one face fewer
        predicted = np.where(np.arange(10) < correct, labels, (labels + 1) % 7)
        stacked.append(np.eye(7)[predicted])
    found = rb.score_robustness(labels, np.stack(stacked))
    assert found["clean_accuracy"] == 1.0 and found["n"] == 10
    noise = found["corruptions"]["gaussian_noise"]
    assert noise["1"]["accuracy"] == 0.9 and noise["3"]["accuracy"] == 0.8
    assert np.allclose(noise["3"]["interval"], _wilson(8, 10), atol=1e-6)
    assert math.isclose(found["mean_by_corruption"]["gaussian_noise"], (0.9 + 0.9 + 0.8) / 3)
    assert found["weakest"] == "occlude_mouth"
    flat = rb.robustness_mlflow_metrics(found)
    assert flat["robust/occlude_mouth/3/accuracy"] == 0.1 and "robust/mean_accuracy" in flat
    rows = rb.severity_curve({"m": found})
    assert [r["severity"] for r in rows] == [0, 1, 2, 3] and rows[0]["accuracy"] == 1.0


def test_a_large_test_split_is_sampled_the_same_way_every_time_and_a_small_one_is_kept_whole() -> None:
    assert np.array_equal(rb.chosen_faces(500), np.arange(500))
    chosen = rb.chosen_faces(3589)
    assert len(chosen) == rb.MAX_FACES and np.array_equal(chosen, np.sort(chosen))
    assert np.array_equal(chosen, rb.chosen_faces(3589)) and chosen.max() > 3000  # seeded, across the split
    faces = rb.robustness_faces(FACES)
    assert faces.shape == (1 + len(rb.views()), *FACES.shape) and np.array_equal(faces[0], FACES)


def test_an_ensemble_method_is_applied_view_by_view() -> None:
    members = [RNG.dirichlet(np.ones(7), size=(3, 5)) for _ in range(2)]  # (views, faces, classes) each
    weights = np.array([0.3, 0.7])
    for method in ens.METHODS:
        combined = ens.combine_views(method, members, weights)
        for v in range(3):
            assert np.allclose(combined[v], ens.combine(method, [m[v] for m in members], weights))
