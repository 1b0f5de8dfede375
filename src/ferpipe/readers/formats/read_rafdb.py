"""RAF-DB's basic set: ``EmoLabel/list_patition_label.txt`` (``<image> <label>`` a line, the
file's own spelling) and the aligned faces ``Image/aligned/<name>_aligned.jpg``.

Labels 1-7 are surprise, fear, disgust, happiness, sadness, anger, neutral; the ``train_`` and
``test_`` name prefixes are the official split, given to prepare as the usage ``train`` or
``test`` (map them with ``prepare.usage_map``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferpipe.images import open_picture
from ferpipe.readers.base import (
    Records,
    Skipped,
    SourceError,
    bounded_lines,
    contained,
    to_grey,
    whole_line,
)

if TYPE_CHECKING:
    from ferpipe.schema import Read

LABEL_FILE = "list_patition_label.txt"  # sic: RAF-DB's own spelling
RAFDB_LABELS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"}
USAGES = ("train", "test")


def read_rafdb(folder: Path, cfg: Read) -> Records:
    """Every labelled image; a bad line (label out of 1-7, no split prefix, a missing or unreadable
    image) is skipped and listed with its line, or raises with ``on_error: fail``."""
    found = sorted(folder.rglob(LABEL_FILE))
    if len(found) != 1:
        raise SourceError(f"{folder}: expected one {LABEL_FILE} (RAF-DB's basic/EmoLabel/), found {len(found)}")
    label_file = found[0]
    aligned = _aligned_folder(folder)
    fail = cfg.on_error == "fail"
    records = Records()
    with open(label_file, encoding="utf-8-sig", errors="replace", newline="") as handle:
        for row, line in bounded_lines(handle):
            if line is not None and not line.strip():
                continue
            try:
                name, image, usage, label = _parse(whole_line(line), aligned, cfg.max_pixels)
            except ValueError as exc:
                if fail:
                    raise SourceError(f"{label_file}: line {row}: {exc}") from exc
                records.skipped.append(Skipped(label_file.name, row, str(exc)))
                continue
            records.add(image, label, name, row=row, usage=usage)
    return records


def _aligned_folder(folder: Path) -> Path:
    candidates = sorted(p for p in folder.rglob("aligned") if p.is_dir())
    if not candidates:
        raise SourceError(f"{folder}: no Image/aligned/ folder (RAF-DB's aligned 100x100 faces)")
    return candidates[0]


def _parse(line: str, aligned: Path, max_pixels: int) -> tuple[str, Any, str, str]:
    """(image name, 48x48 grey face, usage, label) of one label-file line, or ValueError saying why not."""
    fields = line.split()
    if len(fields) != 2:
        raise ValueError(f"expected '<image> <label>', got {line.strip()!r}")
    name, code = fields
    if not code.isdigit() or int(code) not in RAFDB_LABELS:
        raise ValueError(f"{name}: label {code!r} is not one of RAF-DB's codes 1-7")
    usage = name.split("_", 1)[0].lower()
    if usage not in USAGES:
        raise ValueError(f"{name}: the name does not start with train_ or test_ (the official split)")
    path = contained(aligned, f"{Path(name).stem}_aligned{Path(name).suffix}")
    try:
        image = to_grey(open_picture(path, max_pixels))
    except FileNotFoundError as exc:
        raise ValueError(f"{name}: its aligned image {path.name} is missing") from exc
    except (OSError, ValueError) as exc:
        raise ValueError(f"{name}: {path.name} is unreadable: {exc}") from exc
    return name, image, usage, RAFDB_LABELS[int(code)]
