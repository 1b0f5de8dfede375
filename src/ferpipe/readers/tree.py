"""Image trees: one walker for every folder-tree format (image_folder, fer2013_folders, ckplus,
jaffe, kdef); each format's file gives its ``Layout``: where the label, subject and usage are."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ferpipe.detect import face_crop
from ferpipe.images import open_picture
from ferpipe.readers.base import Records, Skipped, SourceError, contained, to_grey

if TYPE_CHECKING:
    from ferpipe.schema import Read

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")


@dataclass(frozen=True)
class Layout:
    """Where a tree keeps labels, subjects and usage. ``name_pattern`` groups: label, subject, usage."""

    name_pattern: str | None = None  # a regex on the file name; without it the label is the folder
    code_map: dict[str, str] | None = None  # file-name label codes to class names (KDEF's AF, ...)
    face_crop: bool = False
    angles: tuple[str, ...] | None = None  # KDEF: keep only these camera angles


def read_tree(folder: Path, cfg: Read, layout: Layout) -> Records:
    """Every image below ``folder``, in a stable order; unreadable or unnamed files are skipped
    (or raise, with ``on_error: fail``) with the file named."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"{folder}: no images found")
    pattern = re.compile(layout.name_pattern, re.IGNORECASE) if layout.name_pattern else None
    crop = layout.face_crop if cfg.face_crop is None else cfg.face_crop
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
            image = open_picture(contained(folder, relative), cfg.max_pixels)
            grey = image if not crop else Image.fromarray(face_crop(np.asarray(image.convert("L"))))
            array = to_grey(grey)
        except (OSError, ValueError) as exc:
            if cfg.on_error == "fail":
                raise SourceError(f"{path}: {exc}") from exc
            records.skipped.append(Skipped(relative, -1, f"unreadable: {exc}"))
            continue
        label = fields.get("label") or path.parent.name
        if layout.code_map:
            label = layout.code_map.get(label.upper(), label)
        records.add(array, label, relative, usage=fields.get("usage") or "", subject=fields.get("subject") or "")
    return records
