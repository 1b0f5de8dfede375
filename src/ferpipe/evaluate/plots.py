"""Pictures people would rather look at than read: confusion matrices and reliability diagrams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferpipe.io import atomic_dir, atomic_path
from ferpipe.labels import CLASSES

SKIPPED_NOTE = "skipped.txt"  # in a model's saliency folder when it has no Grad-CAM map


def write_confusion_csv(path: Path, labels: np.ndarray, predicted: np.ndarray) -> None:
    """One row per sample (``actual``, ``predicted``), as DVC's confusion template wants."""
    frame = pd.DataFrame({"actual": [CLASSES[i] for i in labels], "predicted": [CLASSES[i] for i in predicted]})
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_confusion_png(path: Path, labels: np.ndarray, predicted: np.ndarray, title: str) -> None:
    """Counts and row-normalised confusion matrices side by side, as a reproducible PNG."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(confusion_png(labels, predicted, title))


def confusion_png_from_csv(path: Path) -> bytes:
    """The PNG of a confusion CSV (``actual``, ``predicted``), titled with the file's name."""
    frame = pd.read_csv(path)
    index = {name: i for i, name in enumerate(CLASSES)}
    return confusion_png(frame["actual"].map(index).to_numpy(), frame["predicted"].map(index).to_numpy(), path.stem)


def pyplot() -> Any:
    """matplotlib's pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig: Any, tight: bool = False) -> bytes:
    """The figure as PNG bytes, closed; no timestamp in the file, so the same input gives the same bytes.
    ``tight`` trims the margins to what is drawn."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None}, bbox_inches="tight" if tight else None)
    pyplot().close(fig)
    return buffer.getvalue()


def confusion_png(labels: np.ndarray, predicted: np.ndarray, title: str) -> bytes:
    """Counts and shares of each actual class side by side, in the canonical class order; same input, same bytes."""
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, axes = pyplot().subplots(1, 2, figsize=(12, 5))
    for ax, normalize, name in ((axes[0], None, "counts"), (axes[1], "true", "share of each actual class")):
        ConfusionMatrixDisplay.from_predictions(
            labels,
            predicted,
            labels=range(len(CLASSES)),
            display_labels=CLASSES,
            normalize=normalize,
            ax=ax,
            colorbar=False,
            cmap="Blues",
            values_format=".2f" if normalize else "d",
            xticks_rotation=45,
        )
        ax.set_title(f"{title}: {name}")
    fig.tight_layout()
    return png_bytes(fig)


def reliability_axes(ax: Any, block: dict[str, Any], temperature: float, title: str) -> None:
    """One reliability diagram on ``ax``: accuracy against confidence per bin, as scored and after
    temperature scaling, against the diagonal of perfect calibration (empty bins left out)."""
    ax.plot([0, 1], [0, 1], linestyle="--", color="#999", linewidth=1, label="perfectly calibrated")
    for key, label in (("reliability", "as scored"), ("reliability_scaled", f"T = {temperature:.2f}")):
        rows = [r for r in block[key] if r["count"]]
        ece = block["ece" if key == "reliability" else "ece_scaled"]
        ax.plot(
            [r["confidence"] for r in rows],
            [r["accuracy"] for r in rows],
            marker="o",
            label=f"{label} (ECE {ece:.3f})",
        )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top probability)", ylabel="accuracy", title=title)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")


def write_reliability_png(path: Path, calibration: dict[str, Any], title: str) -> None:
    """Validation and test reliability diagrams side by side, before and after temperature scaling."""
    fig, axes = pyplot().subplots(1, 2, figsize=(10, 5))
    for ax, split in zip(axes, ("val", "test"), strict=True):
        reliability_axes(ax, calibration[split], calibration["temperature"], f"{title}: {split}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(fig))


def saliency_folder(metrics: Path, name: str) -> Path:
    """Where a model's Grad-CAM pictures are kept (``metrics/saliency/<name>``, DVC-cached): the report
    and the model card read them there."""
    return metrics / "saliency" / name


def write_pictures(folder: Path, name: str, summary: dict[str, Any], pictures: dict[str, bytes]) -> None:
    """The pictures, or for a model without a map a note saying why (DVC keeps no empty folder)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(folder) as tmp:
        for file, png in pictures.items():
            (tmp / file).write_bytes(png)
        if not pictures:
            (tmp / SKIPPED_NOTE).write_text(f"{name}: no Grad-CAM map: {summary['skipped']}\n")
