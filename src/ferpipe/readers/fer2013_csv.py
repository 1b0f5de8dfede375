"""FER2013's CSV release (``emotion,pixels,Usage``), plain or gzipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferpipe.labels import FER2013_LABELS
from ferpipe.readers.base import IMAGE_SIZE, Records, Skipped, SourceError

COLUMNS = ("emotion", "pixels", "Usage")


def _find_csv(folder: Path) -> Path:
    found = sorted(p for p in folder.rglob("*") if p.name.endswith((".csv", ".csv.gz")))
    if len(found) != 1:
        raise SourceError(f"{folder}: expected exactly one .csv or .csv.gz file, found {len(found)}")
    return found[0]


def read_fer2013_csv(folder: Path, cfg: dict[str, Any]) -> Records:
    """Parse every row; rows with bad pixel strings are skipped (or raise, with ``on_error: fail``)."""
    path = _find_csv(folder)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(frame.columns) != COLUMNS:
        raise SourceError(f"{path}: header is {list(frame.columns)}, expected {list(COLUMNS)}")
    records = Records()
    n_pixels = IMAGE_SIZE * IMAGE_SIZE
    for row, (emotion, pixels, usage) in enumerate(frame.itertuples(index=False, name=None)):
        try:
            values = np.array(pixels.split(), dtype=np.int64)
        except (ValueError, OverflowError):  # not numbers, or numbers beyond int64
            values = None
        if values is None or values.size != n_pixels or values.min() < 0 or values.max() > 255:
            reason = (
                "pixels are not integers"
                if values is None
                else f"{values.size} pixel values, expected {n_pixels}"
                if values.size != n_pixels
                else "pixel values outside 0..255"
            )
            if cfg.get("on_error", "skip") == "fail":
                raise SourceError(f"{path}: row {row + 2}: {reason}")
            records.skipped.append(Skipped(path.name, row + 2, reason))
            continue
        label = FER2013_LABELS.get(emotion.strip(), emotion)  # integers 0..6 to class names
        records.add(values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE), label, path.name, row=row + 2, usage=usage)
    return records
