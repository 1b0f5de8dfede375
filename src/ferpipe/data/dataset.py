"""The prepared dataset on disk: ``images.npy`` (memory-mappable uint8) and ``manifest.csv``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferpipe.io import atomic_path, save_npy

IMAGES = "images.npy"
MANIFEST = "manifest.csv"
LABELS = "labels.npy"


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
    """One split of the prepared dataset, read from the memory-mapped image file."""
    manifest = load_manifest(folder)
    images = np.load(folder / IMAGES, mmap_mode="r")
    rows = manifest.index[manifest["split"] == split].to_numpy()
    return Split(np.ascontiguousarray(images[rows]), np.array(manifest.loc[rows, "label"], dtype=np.int64))


def save_split(folder: Path, split: Split) -> None:
    """Write a bare split (the balanced training set) as two ``.npy`` files."""
    save_npy(folder / IMAGES, split.images)
    save_npy(folder / LABELS, split.labels)


def load_saved_split(folder: Path) -> Split:
    """Read a split written by :func:`save_split`; the images stay memory-mapped.

    Copy-on-write mapping: pages load on first use and are shared by every process that
    maps the file (the ranks of a data-parallel run), and the array is writable for torch.
    """
    return Split(np.load(folder / IMAGES, mmap_mode="c"), np.load(folder / LABELS))
