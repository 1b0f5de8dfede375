"""Class rebalancing of the training split, and only the training split.

The imbalanced-learn samplers work on flattened pixels; ``augment`` oversamples minority
classes with albumentations transforms instead of interpolating pixels.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ferpipe.config import Paths
from ferpipe.data.dataset import Split, load_split, save_split
from ferpipe.io import write_json
from ferpipe.labels import CLASSES

METHODS = ("none", "ros", "rus", "smote", "smote_tomek", "smote_enn", "tomek", "augment")


def _sampler(method: str, strategy: Any, seed: int, k_neighbors: int):
    """The imbalanced-learn sampler for a method name (imported lazily: a heavy import)."""
    from imblearn.combine import SMOTEENN, SMOTETomek
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler, TomekLinks

    smote = SMOTE(sampling_strategy=strategy, random_state=seed, k_neighbors=k_neighbors)
    return {
        "ros": lambda: RandomOverSampler(sampling_strategy=strategy, random_state=seed),
        "rus": lambda: RandomUnderSampler(sampling_strategy=strategy, random_state=seed),
        "smote": lambda: smote,
        "smote_tomek": lambda: SMOTETomek(sampling_strategy=strategy, random_state=seed, smote=smote),
        "smote_enn": lambda: SMOTEENN(sampling_strategy=strategy, random_state=seed, smote=smote),
        "tomek": lambda: TomekLinks(sampling_strategy=strategy),
    }[method]()


def augmentation_pipeline(seed: int):
    """The offline augmentation of the reports: noise, mirror, contrast, sharpen, crop."""
    import albumentations as A

    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.3, p=0.5),
            A.Sharpen(p=0.3),
            A.RandomResizedCrop(size=(48, 48), scale=(0.8, 1.0), ratio=(0.9, 1.1), p=0.5),
        ],
        seed=seed,
    )


def _augment(split: Split, strategy: Any, seed: int) -> Split:
    """Add augmented copies of minority-class images until each class meets the strategy."""
    from imblearn.utils import check_sampling_strategy

    wanted = check_sampling_strategy(strategy, split.labels, "over-sampling")
    rng = np.random.default_rng(seed)
    transform = augmentation_pipeline(seed)
    images, labels = [split.images], [split.labels]
    for label, n_new in sorted(wanted.items()):
        if n_new <= 0:
            continue
        pool = np.flatnonzero(split.labels == label)
        picks = rng.choice(pool, n_new, replace=True)
        images.append(np.stack([transform(image=split.images[i])["image"] for i in picks]))
        labels.append(np.full(n_new, label, dtype=np.int64))
    return Split(np.concatenate(images), np.concatenate(labels))


def balance(split: Split, method: str, strategy: Any = "auto", seed: int = 0, k_neighbors: int = 5) -> Split:
    """Rebalance a training split with the named method; ``none`` returns it unchanged."""
    if method not in METHODS:
        raise ValueError(f"params balance.method: unknown method {method!r}; choose one of {METHODS}")
    if method == "none":
        return split
    if method == "augment":
        return _augment(split, strategy, seed)
    smallest = min(Counter(split.labels.tolist()).values())
    if "smote" in method and smallest <= k_neighbors:
        raise ValueError(
            f"params balance: SMOTE needs more than k_neighbors={k_neighbors} images per class, "
            f"but the smallest training class has {smallest}"
        )
    flat = split.images.reshape(len(split), -1)
    sampler = _sampler(method, strategy, seed, k_neighbors)
    x, y = sampler.fit_resample(flat.astype(np.float32), split.labels)
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, *split.images.shape[1:])
    return Split(images, np.asarray(y, dtype=np.int64))


def _strategy(strategy: Any) -> Any:
    """imbalanced-learn's sampling strategy, with class names allowed as dict keys."""
    if not isinstance(strategy, dict):
        return strategy
    unknown = [k for k in strategy if k not in CLASSES]
    if unknown:
        raise ValueError(f"params balance.strategy: unknown classes {unknown}; use {CLASSES}")
    return {CLASSES.index(name): int(n) for name, n in strategy.items()}


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """Images per class name."""
    counts = np.bincount(labels, minlength=len(CLASSES))
    return {name: int(n) for name, n in zip(CLASSES, counts, strict=True)}


def run_balance(params: dict[str, Any], paths: Paths) -> None:
    """The ``balance`` stage: rebalance the audited training split; validation and test are only counted."""
    cfg = params.get("balance", {})
    train = load_split(paths.audited, "train")
    balanced = balance(
        train,
        cfg.get("method", "none"),
        _strategy(cfg.get("strategy", "auto")),
        int(cfg.get("seed", 0)),
        int(cfg.get("k_neighbors", 5)),
    )
    save_split(paths.balanced, balanced)
    report = {
        "method": cfg.get("method", "none"),
        "train_before": class_counts(train.labels),
        "train_after": class_counts(balanced.labels),
        **{f"{split}_untouched": class_counts(load_split(paths.audited, split).labels) for split in ("val", "test")},
    }
    write_json(paths.metrics / "balance.json", report)
    print(f"balance ({report['method']}): {len(train)} -> {len(balanced)} training images")
