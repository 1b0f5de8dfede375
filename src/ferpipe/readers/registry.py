"""The reader registry: a format is one file, ``formats/read_<name>.py``, defining one function
``read_<name>(folder, cfg) -> Records``; it is imported when a source first names it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.choices import READ_FORMAT_PREFIX
from ferpipe.named import Registry
from ferpipe.readers.base import Records, SourceError, links_left_out

if TYPE_CHECKING:
    from ferpipe.schema import Read

Reader = Callable[[Path, "Read"], Records]
READERS: Registry[Reader] = Registry("format", package="ferpipe.readers.formats", prefix=READ_FORMAT_PREFIX)


def read_source(folder: Path, cfg: Read) -> Records:
    """Read one materialised source with the reader its ``read.format`` names (the schema allows only
    the formats that have a reader file)."""
    if not folder.exists():
        raise SourceError(f"{folder}: source folder is missing; run the download stage first")
    records = READERS[cfg.format](folder, cfg)
    records.skipped.extend(links_left_out(folder))
    return records
