"""Balancing: every method, on the training split only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferpipe.config import Paths
from ferpipe.data.balance import METHODS, as_dataset, balance, class_counts
from ferpipe.data.dataset import Split, load_split, save_prepared
from ferpipe.data.prepare import prepare
from ferpipe.stages import balance as balance_stage
from tests.conftest import TINY_SOURCES, params_of, prepare_of, sources_of


@pytest.fixture
def skewed(rng: np.random.Generator) -> Split:
    labels = np.repeat([0, 1, 3], [40, 10, 60])
    centres = rng.integers(0, 256, (7, 48, 48))
    images = np.clip(centres[labels] + rng.normal(0, 20, (len(labels), 48, 48)), 0, 255).astype(np.uint8)
    return Split(images, labels)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_returns_valid_images(skewed: Split, method: str) -> None:
    out = balance(skewed, method, seed=0)
    assert out.images.dtype == np.uint8 and out.images.shape[1:] == (48, 48)
    assert len(out.images) == len(out.labels)
    assert set(out.labels.tolist()) <= {0, 1, 3}


@pytest.mark.parametrize("method", ["ros", "smote", "augment"])
def test_oversamplers_equalise_the_classes(skewed: Split, method: str) -> None:
    counts = class_counts(balance(skewed, method, seed=0).labels)
    assert counts["angry"] == counts["disgust"] == counts["happy"] == 60


def test_undersampling_shrinks_to_the_smallest(skewed: Split) -> None:
    counts = class_counts(balance(skewed, "rus", seed=0).labels)
    assert counts["angry"] == counts["disgust"] == counts["happy"] == 10


def test_augment_follows_a_dict_strategy_and_keeps_originals(skewed: Split) -> None:
    out = balance(skewed, "augment", strategy={1: 25}, seed=0)
    assert class_counts(out.labels)["disgust"] == 25
    assert np.array_equal(out.images[: len(skewed)], skewed.images)


def test_smote_needs_enough_neighbours(skewed: Split) -> None:
    tiny = Split(skewed.images[35:45], skewed.labels[35:45])  # 5 angry, 5 disgust
    with pytest.raises(ValueError, match="k_neighbors=5"):
        balance(tiny, "smote")


def test_unknown_method_is_named(skewed: Split) -> None:
    with pytest.raises(ValueError, match="'smoteish'"):
        balance(skewed, "smoteish")


def test_balance_stage_touches_training_only(tiny_raw, tmp_path) -> None:
    paths = Paths(tmp_path)
    result = prepare(
        sources_of(TINY_SOURCES),
        tiny_raw,
        prepare_of({"usage_map": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}}),
    )
    save_prepared(paths.audited, result.images, result.manifest)
    balance_stage.run(params_of(balance={"method": "ros"}), paths)
    balanced = load_split(paths.balanced, "train")
    train = load_split(paths.audited, "train")
    assert len(balanced) > len(train)
    assert len(set(class_counts(balanced.labels).values())) == 1
    assert isinstance(balanced.images, np.memmap)  # one block: training reads it memory-mapped
    # validation and test pass through untouched: the same images and labels, in order
    for split in ("val", "test"):
        before, after = load_split(paths.audited, split), load_split(paths.balanced, split)
        assert np.array_equal(before.images, after.images) and np.array_equal(before.labels, after.labels)
    report = json.loads((paths.details / "balance.json").read_text())
    assert report["scope"] == "after_split" and "leak_evidence" not in report


def test_balancing_before_the_split_leaks_and_says_so(
    tmp_path: Path, tiny_raw: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = Paths(tmp_path)
    result = prepare(
        sources_of(TINY_SOURCES),
        tiny_raw,
        prepare_of({"usage_map": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}}),
    )
    save_prepared(paths.audited, result.images, result.manifest)
    balance_stage.run(params_of(balance={"method": "smote", "scope": "before_split", "k_neighbors": 2}), paths)
    assert "LEAKY PROTOCOL" in capsys.readouterr().err
    evidence = json.loads((paths.details / "balance.json").read_text())["leak_evidence"]
    assert evidence["test_synthetic"] > 0  # SMOTE's interpolations, made partly from test images, in test
    held = {image.tobytes() for split in ("val", "test") for image in load_split(paths.audited, split).images}
    train = load_split(paths.balanced, "train").images
    assert any(image.tobytes() in held for image in train)  # original test images now train the model
    sizes = {s: len(load_split(paths.balanced, s)) for s in ("train", "val", "test")}
    assert sum(sizes.values()) > len(result.images) and sizes["test"] == evidence["test_images"]


@pytest.mark.parametrize("method", ["ros", "rus", "smote", "smote_tomek", "augment"])
def test_every_method_carries_vote_targets_with_the_rows(skewed: Split, method: str) -> None:
    """FER+'s targets travel with their rows; a synthetic row (SMOTE's) gets its class's one-hot."""
    rng = np.random.default_rng(1)
    targets = rng.dirichlet(np.ones(7), len(skewed)).astype(np.float32)
    out = balance(Split(skewed.images, skewed.labels, targets, "soft"), method, seed=0)
    assert out.target_kind == "soft" and out.targets.shape == (len(out), 7)
    own = {image.tobytes(): target for image, target in zip(skewed.images, targets, strict=True)}
    originals = [i for i, image in enumerate(out.images) if image.tobytes() in own]
    assert originals and all(np.array_equal(out.targets[i], own[out.images[i].tobytes()]) for i in originals)
    made = [i for i in range(len(out)) if i not in set(originals)]
    if method == "augment":  # an augmented copy keeps its original's votes
        assert made and all(np.isclose(out.targets[i].sum(), 1) and out.targets[i].max() < 1 for i in made)
    else:
        assert all(np.array_equal(out.targets[i], np.eye(7)[out.labels[i]]) for i in made)


def test_the_balanced_dataset_keeps_the_targets_on_disk(skewed: Split, tmp_path: Path) -> None:
    targets = np.eye(7, dtype=np.float32)[skewed.labels] * 0.5 + 0.5 / 7
    splits = {s: Split(skewed.images, skewed.labels, targets, "multi_target") for s in ("train", "val", "test")}
    save_prepared(tmp_path, *as_dataset(splits))
    loaded = load_split(tmp_path, "train")
    assert loaded.target_kind == "multi_target" and np.allclose(loaded.targets, targets)
    assert load_split(tmp_path, "val").targets is not None
