"""Pictures people would rather look at than read: confusion matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ferpipe.io import atomic_path
from ferpipe.labels import CLASSES


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


def confusion_png(labels: np.ndarray, predicted: np.ndarray, title: str) -> bytes:
    """Counts and shares of each actual class side by side, in the canonical class order; same input, same bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
