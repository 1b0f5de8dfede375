"""What every reader returns, and the one image conversion they all share."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image, ImageOps

IMAGE_SIZE = 48
# Longest text line a reader holds: a FER2013 row is at most about 9,300 characters, a label-file
# or AffectNet line a few hundred. A longer line is read past in pieces and listed, never held whole.
MAX_LINE_CHARS = 1 << 16


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


# Written by the download stage into a source's folder: the links out of the source it did not follow
LINKS_LEFT_OUT = ".links_left_out.txt"
LINK_OUT_REASON = "a link to a file outside the source folder (not followed)"


def write_links_left_out(folder: Path, relatives: list[str]) -> None:
    """Record the links a copy did not follow, one path relative to the source a line."""
    (folder / LINKS_LEFT_OUT).write_text("".join(f"{name}\n" for name in relatives), encoding="utf-8")


def links_left_out(folder: Path) -> list[Skipped]:
    """The links the download stage did not follow, as skipped items of the source."""
    listed = folder / LINKS_LEFT_OUT
    if not listed.exists():
        return []
    return [Skipped(name, -1, LINK_OUT_REASON) for name in listed.read_text(encoding="utf-8").splitlines() if name]


def bounded_lines(handle: TextIO, limit: int = MAX_LINE_CHARS) -> Iterator[tuple[int, str | None]]:
    """(line number from 1, text) for each line; a line over ``limit`` characters is (number, None).

    Each physical line stands alone: a stray quote cannot swallow the lines after it, and memory
    stays bounded whatever one line claims to hold.
    """
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) > limit and not line.endswith(("\n", "\r")):
            while line and not line.endswith(("\n", "\r")):  # read past the rest of the long line
                line = handle.readline(limit)
            yield number, None
            continue
        yield number, line


def whole_line(line: str | None) -> str:
    """A line from :func:`bounded_lines`, or ValueError for one it read past as too long."""
    if line is None:
        raise ValueError(f"a line over {MAX_LINE_CHARS} characters")
    return line


def csv_fields(line: str | None) -> list[str]:
    """One physical line's CSV fields, or ValueError saying why not (too long, a field csv refuses)."""
    try:
        return next(csv.reader([whole_line(line).rstrip("\r\n")]), [])
    except csv.Error as exc:
        raise ValueError(f"malformed CSV: {exc}") from None


def contained(folder: Path, relative: str) -> Path:
    """``folder / relative`` when it resolves inside ``folder`` (links followed); ValueError when a
    name in a source's own files would reach outside the source (``../``, an absolute path, a link)."""
    candidate = folder / relative
    if not candidate.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{relative!r} points outside the source folder")
    return candidate


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
