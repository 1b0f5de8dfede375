"""The reader registry: a format is one file, ``formats/read_<name>.py``, defining one function
``read_<name>(folder, cfg) -> Records``; it is imported when a source first names it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferpipe.choices import READ_FORMAT_PREFIX
from ferpipe.named import Registry
from ferpipe.readers.base import Records, SourceError, links_left_out

Reader = Callable[[Path, dict[str, Any]], Records]
READERS: Registry[Reader] = Registry("format", package="ferpipe.readers.formats", prefix=READ_FORMAT_PREFIX)


def read_source(fmt: str, folder: Path, cfg: dict[str, Any]) -> Records:
    """Read one materialised source with the reader its params name."""
    if fmt not in READERS:
        raise SourceError(f"{folder}: unknown format {fmt!r}; choose one of {', '.join(READERS)}")
    if not folder.exists():
        raise SourceError(f"{folder}: source folder is missing; run the download stage first")
    records = READERS[fmt](folder, cfg)
    records.skipped.extend(links_left_out(folder))
    return records
