"""How each on-disk format is parsed: one reader per format, looked up by name from params."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ferpipe.named import Registry
from ferpipe.readers.affectnet import read_affectnet
from ferpipe.readers.base import Records, Skipped, SourceError, links_left_out
from ferpipe.readers.fer2013_csv import read_fer2013_csv
from ferpipe.readers.image_folder import TREE_LAYOUTS, read_tree
from ferpipe.readers.rafdb import read_rafdb

Reader = Callable[[Path, dict[str, Any]], Records]

READERS: Registry[Reader] = Registry("format")
READERS.register("fer2013_csv")(read_fer2013_csv)
READERS.register("rafdb")(read_rafdb)
READERS.register("affectnet")(read_affectnet)
for _name, _layout in TREE_LAYOUTS.items():  # the folder-tree formats share one walker
    READERS.register(_name)(partial(read_tree, layout=_layout))


def read_source(fmt: str, folder: Path, cfg: dict[str, Any]) -> Records:
    """Read one materialised source with the reader its params name."""
    if fmt not in READERS:
        raise SourceError(f"{folder}: unknown format {fmt!r}; choose one of {', '.join(READERS)}")
    if not folder.exists():
        raise SourceError(f"{folder}: source folder is missing; run the download stage first")
    records = READERS[fmt](folder, cfg)
    records.skipped.extend(links_left_out(folder))
    return records


__all__ = ["READERS", "Records", "Skipped", "SourceError", "read_source"]
