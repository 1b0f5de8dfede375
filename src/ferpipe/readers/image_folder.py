"""Image trees: one reader walks them, the label comes from the class folder or the file name.

- ``image_folder``: ``.../<class>/<image>`` (CK+48, Google-FER-style sets, generic folders);
- ``fer2013_folders``: FER2013's image release, ``{train,test}/<class>/<Usage>_<n>.jpg``;
- ``ckplus``: class folders, subject from ``S<subject>_<sequence>_<frame>.png``;
- ``jaffe``: ``<subject>.<EXPR><n>.<id>.tiff``, face cropped with OpenCV's Haar cascade;
- ``kdef``: ``<session><gender><id><EXPR><angle>.JPG`` (e.g. ``AF01ANS.JPG``), frontal by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ferpipe.detect import face_crop
from ferpipe.images import open_picture
from ferpipe.readers.base import Records, Skipped, SourceError, contained, picture_limit, to_grey

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
KDEF_CODES = {
    "AF": "fear",
    "AN": "angry",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}


@dataclass(frozen=True)
class Layout:
    """Where a tree keeps labels, subjects and usage. ``name_pattern`` groups: label, subject, usage."""

    name_pattern: str | None = None  # a regex on the file name; without it the label is the folder
    code_map: dict[str, str] | None = None  # file-name label codes to class names (KDEF's AF, ...)
    face_crop: bool = False
    angles: tuple[str, ...] | None = None  # KDEF: keep only these camera angles


TREE_LAYOUTS = {
    "image_folder": Layout(),
    "fer2013_folders": Layout(name_pattern=r"^(?P<usage>Training|PublicTest|PrivateTest)_"),
    "ckplus": Layout(name_pattern=r"^(?P<subject>S\d+)_"),
    "jaffe": Layout(name_pattern=r"^(?P<subject>[A-Z]{2})\.(?P<label>[A-Z]{2})\d*\.\d+\.tiff?$", face_crop=True),
    "kdef": Layout(
        name_pattern=r"^[AB](?P<subject>[FM]\d{2})(?P<label>AF|AN|DI|HA|NE|SA|SU)(?P<angle>S|HL|HR|FL|FR)\.",
        code_map=KDEF_CODES,
        face_crop=True,
        angles=("S",),
    ),
}


def read_tree(folder: Path, cfg: dict[str, Any], layout: Layout) -> Records:
    """Every image below ``folder``, in a stable order; unreadable or unnamed files are skipped
    (or raise, with ``on_error: fail``) with the file named."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"{folder}: no images found")
    pattern = re.compile(layout.name_pattern, re.IGNORECASE) if layout.name_pattern else None
    crop = cfg.get("face_crop", layout.face_crop)
    records = Records()
    for path in files:
        relative = str(path.relative_to(folder))
        match = pattern.search(path.name) if pattern else None
        try:
            if pattern and match is None:
                raise ValueError(f"file name does not match {layout.name_pattern}")
            fields = match.groupdict() if match else {}
            if layout.angles and fields.get("angle", "").upper() not in layout.angles:
                continue
            image = open_picture(contained(folder, relative), picture_limit(cfg))
            grey = image if not crop else Image.fromarray(face_crop(np.asarray(image.convert("L"))))
            array = to_grey(grey)
        except (OSError, ValueError) as exc:
            if cfg.get("on_error", "skip") == "fail":
                raise SourceError(f"{path}: {exc}") from exc
            records.skipped.append(Skipped(relative, -1, f"unreadable: {exc}"))
            continue
        label = fields.get("label") or path.parent.name
        if layout.code_map:
            label = layout.code_map.get(label.upper(), label)
        records.add(array, label, relative, usage=fields.get("usage") or "", subject=fields.get("subject") or "")
    return records
