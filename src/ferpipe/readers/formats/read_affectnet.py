"""AffectNet's manually annotated set: ``training.csv`` and ``validation.csv`` with the columns
``subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks, expression,
valence, arousal``, and the pictures under ``Manually_Annotated_Images/``.

The face is cropped by the CSV's box before it is made 48x48 grey. Expressions 0-10 are neutral,
happy, sad, surprise, fear, disgust, anger, contempt, none, uncertain, no-face: prepare drops the
last four and counts them. The file a row comes from is its usage (``training`` or
``validation``); AffectNet has no public test set, so papers test on validation and carve their
validation from training (``prepare.usage_map`` and ``val_fraction``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferpipe.images import UnreadablePicture, open_picture
from ferpipe.readers.base import (
    Records,
    Skipped,
    SourceError,
    bounded_lines,
    contained,
    csv_fields,
    to_grey,
)

if TYPE_CHECKING:
    from ferpipe.schema import Read

FILES = {"training.csv": "training", "validation.csv": "validation"}
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")
AFFECTNET_LABELS = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
    "none",
    "uncertain",
    "no-face",
)
IMAGES_FOLDER = "Manually_Annotated_Images"


def read_affectnet(folder: Path, cfg: Read) -> Records:
    """Every row of both CSVs; a bad row (a code out of 0-10, a missing picture, a face box outside
    it) is skipped and listed with its file and row, or raises with ``on_error: fail``."""
    tables = {name: sorted(folder.rglob(name)) for name in FILES}
    if not any(tables.values()) or any(len(found) > 1 for found in tables.values()):
        raise SourceError(f"{folder}: expected AffectNet's training.csv and/or validation.csv (one of each)")
    fail = cfg.on_error == "fail"
    records = Records()
    for name, found in tables.items():
        if not found:
            continue
        table = found[0]
        images = next((p for p in sorted(folder.rglob(IMAGES_FOLDER)) if p.is_dir()), table.parent)
        with open(table, encoding="utf-8-sig", errors="replace", newline="") as handle:
            lines = bounded_lines(handle)
            header = csv_fields(next(lines, (1, ""))[1] or "")
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise SourceError(f"{table}: missing the column(s) {missing}; header is {header}")
            for row, line in lines:
                if line is not None and not line.strip():
                    continue
                try:
                    fields = _row(line, header)
                    image, label = _face(fields, images, cfg.max_pixels)
                except ValueError as exc:
                    if fail:
                        raise SourceError(f"{table}: row {row}: {exc}") from exc
                    records.skipped.append(Skipped(table.name, row, str(exc)))
                    continue
                records.add(image, label, fields["subDirectory_filePath"], row=row, usage=FILES[name])
    return records


def _row(line: str | None, header: list[str]) -> dict[str, str]:
    """One physical line as {column: value}, or ValueError saying why it is not a row."""
    fields = csv_fields(line)
    if len(fields) != len(header):
        raise ValueError(f"{len(fields)} fields, the header has {len(header)}")
    return dict(zip(header, fields, strict=True))


def _face(fields: dict[str, str], images: Path, max_pixels: int) -> tuple[Any, str]:
    """The row's face as 48x48 grey and its label name, or ValueError saying why not."""
    relative = fields["subDirectory_filePath"]
    try:
        code = int(fields["expression"])
        x, y, w, h = (int(float(fields[c])) for c in ("face_x", "face_y", "face_width", "face_height"))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{relative}: expression and face box must be numbers ({exc})") from exc
    if not 0 <= code < len(AFFECTNET_LABELS):
        raise ValueError(f"{relative}: expression {code} is not one of AffectNet's codes 0-10")
    try:
        with open_picture(contained(images, relative), max_pixels) as picture:
            if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > picture.width or y + h > picture.height:
                raise ValueError(
                    f"{relative}: face box ({x}, {y}, {w}, {h}) is outside the {picture.width}x{picture.height} picture"
                )
            return to_grey(picture.crop((x, y, x + w, y + h))), AFFECTNET_LABELS[code]
    except FileNotFoundError as exc:
        raise ValueError(f"{relative}: the picture is missing") from exc
    except (OSError, UnreadablePicture) as exc:
        raise ValueError(f"{relative}: the picture is unreadable: {exc}") from exc
