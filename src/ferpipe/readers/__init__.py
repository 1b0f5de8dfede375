"""How each on-disk format is parsed: one reader per format, looked up by name from params."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferpipe.readers.base import Records, Skipped, SourceError
from ferpipe.readers.fer2013_csv import read_fer2013_csv
from ferpipe.readers.image_folder import read_image_folder

Reader = Callable[[Path, dict[str, Any]], Records]


def _read_ckplus(folder: Path, cfg: dict[str, Any]) -> Records:
    """CK+48: class folders, subject id from ``S<subject>_<sequence>_<frame>.png``."""
    return read_image_folder(folder, {"subject_pattern": r"^(S\d+)_", **cfg})


READERS: dict[str, Reader] = {
    "fer2013_csv": read_fer2013_csv,
    "ckplus": _read_ckplus,
    "image_folder": read_image_folder,
}


def read_source(fmt: str, folder: Path, cfg: dict[str, Any]) -> Records:
    """Read one materialised source with the reader its params name."""
    if fmt not in READERS:
        raise SourceError(f"{folder}: unknown format {fmt!r}; choose one of {sorted(READERS)}")
    if not folder.exists():
        raise SourceError(f"{folder}: source folder is missing; run the download stage first")
    return READERS[fmt](folder, cfg)


__all__ = ["READERS", "Records", "Skipped", "SourceError", "read_source"]
