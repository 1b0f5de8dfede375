"""What every reader returns, and the one image conversion they all share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

IMAGE_SIZE = 48


class SourceError(ValueError):
    """Bad input in a source; the message names the file (and the row, where there is one)."""


@dataclass
class Skipped:
    """One item left out, and why."""

    file: str
    row: int
    reason: str


@dataclass
class Records:
    """The items of one source, as 48x48 grey uint8 images with their raw labels."""

    images: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    usages: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # FER+'s soft and multi_target schemes: (n, classes) training targets, and the majority label
    # every row takes if it is held out for validation or test (ferpipe.readers.ferplus)
    targets: np.ndarray | None = None
    majority: list[str] | None = None

    def add(self, image: np.ndarray, label: str, file: str, row: int = -1, usage: str = "", subject: str = "") -> None:
        self.images.append(image)
        self.labels.append(label)
        self.files.append(file)
        self.rows.append(row)
        self.usages.append(usage)
        self.subjects.append(subject)

    def __len__(self) -> int:
        return len(self.labels)


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float images scaled to 8-bit grey by their maximum; others unchanged."""
    if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        return image
    array = np.asarray(image, dtype=np.float64)
    top = array.max()
    return Image.fromarray((array / top * 255 if top > 0 else array).astype(np.uint8))


def to_grey(image: Image.Image, size: int = IMAGE_SIZE) -> np.ndarray:
    """Any PIL image (colour, palette, 16-bit) as a centre-cropped ``size`` x ``size`` uint8 array."""
    image = to_8bit(image)
    if image.mode != "L":
        image = image.convert("RGB").convert("L")
    if image.size != (size, size):
        image = ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)
