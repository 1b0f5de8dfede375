"""The prepared dataset on disk: ``images.npy`` (memory-mappable uint8) and ``manifest.csv``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferpipe.io import atomic_path, save_npy

IMAGES = "images.npy"
MANIFEST = "manifest.csv"


@dataclass
class Split:
    """Images (n, 48, 48) uint8 and labels (n,) int64 of one split."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def save_prepared(folder: Path, images: np.ndarray, manifest: pd.DataFrame) -> None:
    """Write the merged dataset; each file lands atomically."""
    save_npy(folder / IMAGES, images)
    with atomic_path(folder / MANIFEST) as tmp:
        manifest.to_csv(tmp, index=False)


def load_manifest(folder: Path) -> pd.DataFrame:
    """The manifest: one row per image with source, file, label and split."""
    return pd.read_csv(folder / MANIFEST, keep_default_na=False)


def load_split(folder: Path, split: str) -> Split:
    """One split of a dataset folder (``data/prepared``, ``audited`` or ``balanced``).

    The images stay memory-mapped when the split's rows are contiguous, as the training rows
    of ``data/balanced`` are: pages load on first use and are shared by every process that
    maps the file (the ranks of a data-parallel run). The mapping is copy-on-write, so the
    array is writable for torch and the file is never touched.
    """
    manifest = load_manifest(folder)
    images = np.load(folder / IMAGES, mmap_mode="c")
    rows = manifest.index[manifest["split"] == split].to_numpy()
    labels = np.array(manifest.loc[rows, "label"], dtype=np.int64)
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return Split(images[rows[0] : rows[-1] + 1], labels)
    return Split(np.ascontiguousarray(images[rows]), labels)
