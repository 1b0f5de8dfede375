"""Image trees with one folder per class: CK+48, Google-FER-style sets, generic image folders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ferpipe.readers.base import Records, Skipped, SourceError, to_grey

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")


def _unwrap(folder: Path) -> Path:
    """Step into lone wrapper folders (``CK+48/`` inside the source) that hold only folders."""
    while True:
        children = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if len(children) == 1 and children[0].is_dir() and all(p.is_dir() for p in children[0].iterdir()):
            folder = children[0]
        else:
            return folder


def read_image_folder(folder: Path, cfg: dict[str, Any]) -> Records:
    """Read ``<class>/<...>/<image>``; the class folder may sit below a single wrapper folder.

    ``subject_pattern`` (a regex with one group) pulls a subject id out of each file name, so
    later splits can keep one person's frames on one side.
    """
    root = _unwrap(folder)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise SourceError(f"{root}: no class folders found")
    pattern = re.compile(cfg["subject_pattern"]) if cfg.get("subject_pattern") else None
    records = Records()
    for class_dir in class_dirs:
        for path in sorted(class_dir.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            relative = str(path.relative_to(folder))
            try:
                with Image.open(path) as image:
                    array = to_grey(image)
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                if cfg.get("on_error", "skip") == "fail":
                    raise SourceError(f"{path}: cannot read image: {exc}") from exc
                records.skipped.append(Skipped(relative, -1, f"unreadable image: {exc}"))
                continue
            match = pattern.search(path.name) if pattern else None
            records.add(array, class_dir.name, relative, subject=match.group(1) if match else "")
    return records
