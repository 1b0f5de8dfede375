"""Class rebalancing of the training split, and only the training split (unless a leaky
protocol is reproduced on purpose: ``scope: before_split``).

The imbalanced-learn samplers work on flattened pixels; ``augment`` oversamples minority
classes with albumentations transforms instead of interpolating pixels.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ferpipe.choices import BALANCE_METHODS as METHODS
from ferpipe.data.augmentation import augmentation_pipeline
from ferpipe.data.dataset import Split, target_columns
from ferpipe.labels import CLASSES
from ferpipe.named import Registry

if TYPE_CHECKING:
    from ferpipe.schema import Balance

SAMPLERS: Registry = Registry("balance method")  # imbalanced-learn's samplers, imported lazily (heavy)


@SAMPLERS.register("ros")
def _ros(strategy: Any, seed: int, k_neighbors: int) -> Any:
    from imblearn.over_sampling import RandomOverSampler

    return RandomOverSampler(sampling_strategy=strategy, random_state=seed)


@SAMPLERS.register("rus")
def _rus(strategy: Any, seed: int, k_neighbors: int) -> Any:
    from imblearn.under_sampling import RandomUnderSampler

    return RandomUnderSampler(sampling_strategy=strategy, random_state=seed)


@SAMPLERS.register("smote")
def _smote(strategy: Any, seed: int, k_neighbors: int) -> Any:
    from imblearn.over_sampling import SMOTE

    return SMOTE(sampling_strategy=strategy, random_state=seed, k_neighbors=k_neighbors)


@SAMPLERS.register("smote_tomek")
def _smote_tomek(strategy: Any, seed: int, k_neighbors: int) -> Any:
    from imblearn.combine import SMOTETomek

    return SMOTETomek(sampling_strategy=strategy, random_state=seed, smote=_smote(strategy, seed, k_neighbors))


@SAMPLERS.register("smote_enn")
def _smote_enn(strategy: Any, seed: int, k_neighbors: int) -> Any:
    from imblearn.combine import SMOTEENN

    return SMOTEENN(sampling_strategy=strategy, random_state=seed, smote=_smote(strategy, seed, k_neighbors))


@SAMPLERS.register("tomek")
def _tomek(strategy: Any, seed: int, k_neighbors: int) -> Any:
    from imblearn.under_sampling import TomekLinks

    return TomekLinks(sampling_strategy=strategy)


def _augment(split: Split, strategy: Any, seed: int) -> Split:
    """Add augmented copies of minority-class images until each class meets the strategy."""
    from imblearn.utils import check_sampling_strategy

    wanted = check_sampling_strategy(strategy, split.labels, "over-sampling")
    rng = np.random.default_rng(seed)
    transform = augmentation_pipeline(seed)
    wanted = sorted((label, n) for label, n in wanted.items() if n > 0)
    picks = [rng.choice(np.flatnonzero(split.labels == label), n, replace=True) for label, n in wanted]
    copies = split.rows(np.concatenate([np.arange(len(split)), *picks]))  # labels and targets of the originals
    for i in range(len(split), len(copies)):
        copies.images[i] = transform(image=copies.images[i])["image"]
    return copies


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
    sampler = SAMPLERS[method](strategy, seed, k_neighbors)
    x, y = sampler.fit_resample(flat.astype(np.float32), split.labels)
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, *split.images.shape[1:])
    labels = np.asarray(y, dtype=np.int64)
    return Split(images, labels, _carried_targets(split, images, labels), split.target_kind)


def _carried_targets(before: Split, images: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """Training targets of a resampled split: a row that is one of the originals keeps its own (found
    by its pixels: prepare left no two alike in a split); a synthetic row (SMOTE's) the one-hot of its class."""
    if before.targets is None:
        return None
    own = {image.tobytes(): i for i, image in enumerate(before.images)}
    targets = np.eye(len(CLASSES), dtype=np.float32)[labels]
    for row, image in enumerate(images):
        original = own.get(image.tobytes())
        if original is not None:
            targets[row] = before.targets[original]
    return targets


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


def balance_params(cfg: Balance) -> dict[str, Any]:
    """Keyword arguments of :func:`balance` from a ``balance`` params section (or a model's override)."""
    return {"method": cfg.method, "strategy": _strategy(cfg.strategy), "seed": cfg.seed, "k_neighbors": cfg.k_neighbors}


def as_dataset(splits: dict[str, Split]) -> tuple[np.ndarray, pd.DataFrame]:
    """Images and manifest of a dataset folder, one split after another (training rows first,
    so the training split stays one memory-mappable block)."""
    order = [s for s in ("train", "val", "test") if s in splits]
    images = np.concatenate([splits[s].images for s in order])
    labels = np.concatenate([splits[s].labels for s in order])
    manifest = pd.DataFrame(
        {
            "index": np.arange(len(labels)),
            "split": np.repeat(order, [len(splits[s]) for s in order]),
            "label": labels,
            "label_name": [CLASSES[i] for i in labels],
        }
    )
    kind = splits[order[0]].target_kind
    if kind:  # FER+'s training targets travel beside the labels
        targets = np.concatenate([splits[s].targets for s in order])
        manifest[target_columns(kind)] = targets
    return images, manifest


def balance_then_split(splits: dict[str, Split], **kwargs: Any) -> dict[str, Split]:
    """The leaky protocol of some reports: pool every split, balance the pool, then split it at
    random into parts of the original sizes' shares (stratified by label)."""
    from sklearn.model_selection import train_test_split

    pooled = balance(_pooled(list(splits.values())), **kwargs)
    total = sum(len(s) for s in splits.values())
    rest = np.arange(len(pooled))
    out: dict[str, Split] = {}
    for name in ("test", "val"):
        share = len(splits[name]) / total
        rest, picked = train_test_split(
            rest, test_size=share * len(pooled) / len(rest), random_state=kwargs["seed"], stratify=pooled.labels[rest]
        )
        out[name] = pooled.rows(np.sort(picked))
    return {"train": pooled.rows(np.sort(rest)), **out}


def _pooled(splits: list[Split]) -> Split:
    """Every split's rows in one, targets and all."""
    targets = None if splits[0].targets is None else np.concatenate([s.targets for s in splits])
    images, labels = np.concatenate([s.images for s in splits]), np.concatenate([s.labels for s in splits])
    return Split(images, labels, targets, splits[0].target_kind)
