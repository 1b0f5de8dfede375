"""The report's pictures as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from ferpipe.labels import CLASSES


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None}, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def curves_png(curves: pd.DataFrame) -> bytes:
    """Validation accuracy and training loss per epoch, every model on the same axes."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for model, frame in curves.groupby("model", sort=False):
        axes[0].plot(frame["epoch"], frame["val_accuracy"], marker=".", label=model)
        axes[1].plot(frame["epoch"], frame["train_loss"], marker=".", label=model)
    for ax, title in zip(axes, ("validation accuracy", "training loss"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    return _png(fig)


def distribution_png(distribution: pd.DataFrame) -> bytes:
    """Images per class in each set, grouped bars."""
    plt = _pyplot()
    table = distribution.pivot(index="class", columns="set", values="count").reindex(list(CLASSES))
    table = table[[s for s in distribution["set"].unique()]]
    fig, ax = plt.subplots(figsize=(12, 4))
    table.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("images")
    ax.set_title("class distribution (balancing touches the training split only)")
    return _png(fig)


def faces_png(images: np.ndarray, labels: np.ndarray, per_class: int = 8, seed: int = 0) -> bytes:
    """A grid of random training faces, one row per class."""
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(CLASSES), per_class, figsize=(per_class * 0.9, len(CLASSES) * 1.0))
    for row, name in enumerate(CLASSES):
        pool = np.flatnonzero(labels == row)
        picked = rng.choice(pool, min(per_class, len(pool)), replace=False) if len(pool) else []
        for col in range(per_class):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(picked):
                ax.imshow(images[picked[col]], cmap="gray", vmin=0, vmax=255)
        axes[row, 0].text(-4, 24, name, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.15)
    return _png(fig)


def scores_png(scores: pd.DataFrame, intervals: dict[str, dict[str, list[float]]] | None = None) -> bytes:
    """Test accuracy and macro F1 of each member and ensemble, side by side, with their 95% intervals."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 4))
    table = scores.set_index("name")[["test accuracy", "test macro F1"]]
    errors = None
    if intervals:
        keys = {"test accuracy": "accuracy", "test macro F1": "macro_f1"}
        errors = [
            [
                [value - intervals[name].get(keys[column], [value, value])[0] for name, value in table[column].items()],
                [intervals[name].get(keys[column], [value, value])[1] - value for name, value in table[column].items()],
            ]
            for column in table.columns
        ]
    table.plot.bar(ax=ax, rot=20, yerr=errors, capsize=3)
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("members and ensembles on the test split")
    return _png(fig)


def reliability_grid_png(calibrations: dict[str, dict[str, Any]], columns: int = 4) -> bytes:
    """Each model's and method's test reliability diagram, before and after temperature scaling."""
    from ferpipe.evaluate.plots import reliability_axes

    plt = _pyplot()
    rows = -(-len(calibrations) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    for ax, (name, calibration) in zip(axes.flat, calibrations.items(), strict=False):
        reliability_axes(ax, calibration["test"], calibration["temperature"], name)
    for ax in axes.flat[len(calibrations) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)
