"""The prepared dataset on disk: ``images.npy`` (memory-mappable uint8) and ``manifest.csv``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferpipe.io import atomic_path, save_npy
from ferpipe.labels import CLASSES

IMAGES = "images.npy"
MANIFEST = "manifest.csv"
# the split of the test-only sources (read.role: test_only): scored by every model, never trained on
# or chosen with; balance leaves it out of data/balanced, so scoring reads it from data/audited
CROSS = "cross"


# FER+'s training targets in a manifest: one column per class, named by the scheme they follow
TARGET_PREFIXES = {"soft": "target_", "multi_target": "accept_"}


def target_columns(kind: str) -> list[str]:
    """The manifest columns of one kind of training target (``soft`` or ``multi_target``), in class order."""
    return [f"{TARGET_PREFIXES[kind]}{name}" for name in CLASSES]


def target_kind(column: str) -> str | None:
    """The kind of training target a manifest column holds, or None for any other column."""
    return next((k for k, p in TARGET_PREFIXES.items() if column.startswith(p) and column[len(p) :] in CLASSES), None)


@dataclass
class Split:
    """Images (n, 48, 48) uint8 and labels (n,) int64 of one split.

    ``targets`` (n, classes) float32, where the labels came from FER+'s votes by the ``soft`` or
    ``multi_target`` scheme (``target_kind``): what training learns instead of the labels. The
    labels still decide balancing and the training accuracy.
    """

    images: np.ndarray
    labels: np.ndarray
    targets: np.ndarray | None = None
    target_kind: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, index: np.ndarray) -> Split:
        """The split's rows ``index`` (a selection or a resampling), targets and all."""
        targets = None if self.targets is None else self.targets[index]
        return Split(self.images[index], self.labels[index], targets, self.target_kind)


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
    kind = next((k for k in map(target_kind, manifest.columns) if k), "")
    targets = manifest.loc[rows, target_columns(kind)].to_numpy(np.float32) if kind else None
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return Split(images[rows[0] : rows[-1] + 1], labels, targets, kind)
    return Split(np.ascontiguousarray(images[rows]), labels, targets, kind)


def load_cross_sets(folder: Path) -> dict[str, Split]:
    """Each test-only source's images and labels by source name, in params order ({} when none)."""
    manifest = load_manifest(folder)
    cross = manifest[manifest["split"] == CROSS]
    if cross.empty:
        return {}
    images = np.load(folder / IMAGES, mmap_mode="r")
    return {
        source: Split(np.ascontiguousarray(images[rows]), manifest.loc[rows, "label"].to_numpy(np.int64))
        for source, rows in cross.groupby("source", sort=False).groups.items()
    }
