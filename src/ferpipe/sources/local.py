"""The ``path`` source kind: a local file, folder or archive copied into ``data/raw``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ferpipe.sources.archive import DEFAULT_MAX_BYTES, extract_archive

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def materialise_path(dest: Path, cfg: dict[str, Any], root: Path) -> int:
    """Copy or unpack ``cfg['path']`` (relative to the repo root) into ``dest``; returns files written."""
    if "path" not in cfg:
        raise ValueError("path source: missing 'path'")
    src = (root / str(cfg["path"])).resolve()
    if not src.exists():
        raise FileNotFoundError(f"path source: {src} does not exist")
    name = src.name.lower()
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    elif name.endswith(ARCHIVE_SUFFIXES):
        extract_archive(src, dest, int(cfg.get("max_bytes", DEFAULT_MAX_BYTES)))
    elif name.endswith((".csv", ".csv.gz")):
        shutil.copy2(src, dest / src.name)
    else:
        raise ValueError(f"path source: {src} is not a folder, .csv, .csv.gz, .zip or .tar.gz")
    return sum(1 for p in dest.rglob("*") if p.is_file())
