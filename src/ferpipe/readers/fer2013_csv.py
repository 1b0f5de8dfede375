"""FER2013's CSV release (``emotion,pixels,Usage``), plain or gzipped."""

from __future__ import annotations

import csv
import gzip
import itertools
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ferpipe.labels import FER2013_LABELS
from ferpipe.readers.base import IMAGE_SIZE, Records, Skipped, SourceError
from ferpipe.readers.ferplus import VOTES_FILE, relabel

COLUMNS = ("emotion", "pixels", "Usage")
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE


def _find_csv(folder: Path) -> Path:
    found = sorted(p for p in folder.rglob("*") if p.name.endswith((".csv", ".csv.gz")) and p.name != VOTES_FILE)
    if len(found) != 1:
        raise SourceError(f"{folder}: expected exactly one .csv or .csv.gz file, found {len(found)}")
    return found[0]


def read_fer2013_csv(folder: Path, cfg: dict[str, Any]) -> Records:
    """Parse every row; a malformed row of any kind is skipped and listed (or raises, with ``on_error: fail``).

    A file that cannot be read as a whole (truncated or corrupt gzip, an empty file, a wrong
    header) is one error naming the file.
    """
    path = _find_csv(folder)
    records = Records()
    fail = cfg.get("on_error", "skip") == "fail"
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise SourceError(f"{path}: empty file; expected the header {','.join(COLUMNS)}")
            names = [name.strip() for name in header]  # Kaggle's icml_face_data.csv: "emotion, Usage, pixels"
            if sorted(names) != sorted(COLUMNS):
                raise SourceError(f"{path}: header is {header}, expected the columns {list(COLUMNS)}")
            order = [names.index(column) for column in COLUMNS]
            for row, fields in _rows(reader):
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
    if cfg.get("votes"):  # FER+: the same rows, labelled by 10 annotators
        relabel(folder, path, records, cfg)
    return records


def _open_text(path: Path) -> TextIO:
    """The CSV as text; bytes that are not UTF-8 become U+FFFD, so their row is skipped, not the file."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _rows(reader: Any) -> Iterator[tuple[int, list[str] | str]]:
    """(row, fields) per record, or (row, reason) where the csv module refuses it; the header is row 1."""
    for row in itertools.count(2):
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # an overlong field, a NUL byte
            yield row, f"malformed CSV: {exc}"
            continue
        yield row, fields


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
