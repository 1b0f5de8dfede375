"""FER2013's CSV release (``emotion,pixels,Usage``), plain or gzipped."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from ferpipe.labels import FER2013_LABELS
from ferpipe.readers.base import IMAGE_SIZE, Records, Skipped, SourceError, bounded_lines, csv_fields
from ferpipe.readers.ferplus import VOTES_FILE, relabel

if TYPE_CHECKING:
    from ferpipe.schema import Read

COLUMNS = ("emotion", "pixels", "Usage")
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE


def _find_csv(folder: Path) -> Path:
    found = sorted(p for p in folder.rglob("*") if p.name.endswith((".csv", ".csv.gz")) and p.name != VOTES_FILE)
    if len(found) != 1:
        raise SourceError(f"{folder}: expected exactly one .csv or .csv.gz file, found {len(found)}")
    return found[0]


def read_fer2013_csv(folder: Path, cfg: Read) -> Records:
    """Parse every row; a malformed row of any kind is skipped and listed (or raises, with ``on_error: fail``).

    A file that cannot be read as a whole (truncated or corrupt gzip, an empty file, a wrong
    header) is one error naming the file.
    """
    path = _find_csv(folder)
    records = Records()
    fail = cfg.on_error == "fail"
    try:
        with _open_text(path) as handle:
            lines = bounded_lines(handle)
            first = next(lines, None)
            if first is None:
                raise SourceError(f"{path}: empty file; expected the header {','.join(COLUMNS)}")
            header = _fields(first[1])
            names = [name.strip() for name in header] if isinstance(header, list) else []
            if sorted(names) != sorted(COLUMNS):  # Kaggle's icml_face_data.csv: "emotion, Usage, pixels"
                found = f"header is {names}" if names else "no readable header line"
                raise SourceError(f"{path}: {found}, expected the columns {list(COLUMNS)}")
            order = [names.index(column) for column in COLUMNS]
            for row, line in lines:
                if line is not None and not line.strip():
                    continue  # a blank line holds no item
                fields = _fields(line)
                if isinstance(fields, list) and len(fields) == len(COLUMNS):
                    fields = [fields[i] for i in order]
                image, reason = _parse(fields) if isinstance(fields, list) else (None, fields)
                if image is None:
                    if fail:
                        raise SourceError(f"{path}: row {row}: {reason}")
                    records.skipped.append(Skipped(path.name, row, reason))
                    continue
                emotion, _, usage = fields
                label = FER2013_LABELS.get(emotion.strip(), emotion)  # integers 0..6 to class names
                records.add(image, label, path.name, row=row, usage=usage.strip())
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise SourceError(f"{path}: cannot be read (truncated or corrupt file?): {exc}") from exc
    if cfg.votes:  # FER+: the same rows, labelled by 10 annotators
        relabel(folder, path, records, cfg)
    return records


def _open_text(path: Path) -> TextIO:
    """The CSV as text, without a byte-order mark (Excel writes one); bytes that are not UTF-8
    become U+FFFD, so their row is skipped, not the file."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def _fields(line: str | None) -> list[str] | str:
    """One physical line's fields, or why they cannot be had (too long, refused by the csv module)."""
    try:
        return csv_fields(line)
    except ValueError as exc:
        return str(exc)


def _parse(fields: list[str]) -> tuple[np.ndarray | None, str]:
    """One row's 48x48 image, or None and why the row is unusable."""
    if len(fields) != len(COLUMNS):
        return None, f"{len(fields)} fields, expected {len(COLUMNS)}"
    if any("\ufffd" in field for field in fields):
        return None, "bytes that are not UTF-8 text"
    try:
        values = np.array(fields[1].split(), dtype=np.int64)
    except (ValueError, OverflowError):  # not numbers, or numbers beyond int64
        return None, "pixels are not integers"
    if values.size != N_PIXELS:
        return None, f"{values.size} pixel values, expected {N_PIXELS}"
    if values.min() < 0 or values.max() > 255:
        return None, "pixel values outside 0..255"
    return values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE), ""
