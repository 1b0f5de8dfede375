"""The report's pictures as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ferpipe.evaluate.plots import png_bytes, pyplot
from ferpipe.labels import CLASSES


def _png(fig: Any) -> bytes:
    return png_bytes(fig, tight=True)


def curves_png(curves: pd.DataFrame) -> bytes:
    """Validation accuracy and training loss per epoch, every model on the same axes."""
    plt = pyplot()
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
    plt = pyplot()
    table = distribution.pivot(index="class", columns="set", values="count").reindex(list(CLASSES))
    table = table[[s for s in distribution["set"].unique()]]
    fig, ax = plt.subplots(figsize=(12, 4))
    table.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("images")
    ax.set_title("class distribution (balancing touches the training split only)")
    return _png(fig)


def faces_png(images: np.ndarray, labels: np.ndarray, per_class: int = 8, seed: int = 0) -> bytes:
    """A grid of random training faces, one row per class."""
    plt = pyplot()
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
    plt = pyplot()
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

    plt = pyplot()
    rows = -(-len(calibrations) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows), squeeze=False)
    for ax, (name, calibration) in zip(axes.flat, calibrations.items(), strict=False):
        reliability_axes(ax, calibration["test"], calibration["temperature"], name)
    for ax in axes.flat[len(calibrations) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def robustness_png(scored: dict[str, dict[str, Any]]) -> bytes:
    """One panel per corruption: each model's test accuracy from clean (severity 0) to severity 3."""
    plt = pyplot()
    corruptions = list(next(iter(scored.values()))["corruptions"])
    columns = 4
    rows = -(-len(corruptions) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False, sharey=True)
    for ax, corruption in zip(axes.flat, corruptions, strict=False):
        for name, robustness in scored.items():
            by = robustness["corruptions"][corruption]
            severities = [0, *(int(s) for s in by)]
            accuracies = [robustness["clean_accuracy"], *(v["accuracy"] for v in by.values())]
            ax.plot(severities, accuracies, marker="o", label=name)
        ax.set_title(corruption.replace("_", " "))
        ax.set_xticks([0, 1, 2, 3])
        ax.set_xlabel("severity (0: clean)")
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("test accuracy")
    for ax in axes.flat[len(corruptions) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    return _png(fig)


def corruptions_png(face: np.ndarray) -> bytes:
    """One face under every corruption (rows) at each severity (columns), the clean face first."""
    from ferpipe.evaluate.robustness import SEVERITIES, corrupted, views

    plt = pyplot()
    shown = corrupted(face[None])[:, 0]
    names = list(dict.fromkeys(name for name, _ in views()))
    fig, axes = plt.subplots(1, len(names), figsize=(1.3 * len(names), 1.3 * (len(SEVERITIES) + 1)))
    for ax, name in zip(axes, names, strict=True):
        column = [face, *(shown[i] for i, view in enumerate(views()) if view[0] == name)]
        ax.imshow(np.concatenate(column), cmap="gray", vmin=0, vmax=255)
        ax.set_title(name.replace("_", "\n"), fontsize=8)
        ax.axis("off")
    return _png(fig)
