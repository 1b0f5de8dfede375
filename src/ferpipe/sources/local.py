"""The ``path`` source kind: a local file, folder or archive copied into ``data/raw``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.readers.base import write_links_left_out
from ferpipe.sources.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_RATIO, extract_archive

if TYPE_CHECKING:
    from ferpipe.schema import ArchiveLimits

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def materialise_path(dest: Path, path: str | Path, root: Path, limits: ArchiveLimits) -> int:
    """Copy or unpack ``path`` (relative to the repo root) into ``dest`` within the fetch section's
    archive ``limits``; returns files written."""
    src = (root / path).resolve()
    if not src.exists():
        raise FileNotFoundError(f"path source: {src} does not exist")
    name = src.name.lower()
    if src.is_dir():
        _copy_folder(src, dest)
    elif name.endswith(ARCHIVE_SUFFIXES):
        extract_archive(src, dest, limits.max_bytes or DEFAULT_MAX_BYTES, limits.max_ratio or DEFAULT_MAX_RATIO)
    elif name.endswith((".csv", ".csv.gz")):
        shutil.copy2(src, dest / src.name)
    else:
        raise ValueError(f"path source: {src} is not a folder, .csv, .csv.gz, .zip or .tar.gz")
    return sum(1 for p in dest.rglob("*") if p.is_file())


def _copy_folder(src: Path, dest: Path) -> None:
    """Copy a folder, following links that stay inside it; a link out of it is not followed but
    listed in ``dest/LINKS_LEFT_OUT`` (prepare lists it as a skipped item). A link loop, or anything
    else that cannot be copied, is one short error."""
    _refuse_link_loops(src)
    outside: list[str] = []

    def links_out(folder: str, names: list[str]) -> set[str]:
        left = {n for n in names if os.path.islink(os.path.join(folder, n)) and not _inside(src, Path(folder, n))}
        outside.extend(str(Path(folder, n).relative_to(src)) for n in sorted(left))
        return left

    try:
        shutil.copytree(src, dest, dirs_exist_ok=True, ignore=links_out)
    except shutil.Error as exc:
        failures = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [(src, "", str(exc))]
        first, _, why = failures[0]
        raise ValueError(
            f"path source: {src}: {len(failures)} item(s) could not be copied; first {first}: {why}"
        ) from None
    except OSError as exc:  # a loop at the top level
        raise ValueError(f"path source: {src}: cannot be copied: {exc}") from None
    if outside:
        print(f"path source: {src}: {len(outside)} link(s) to files outside it left out (listed in skipped.csv)")
        write_links_left_out(dest, outside)


def _inside(src: Path, path: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(src))


def _refuse_link_loops(src: Path) -> None:
    """Refuse a folder that reaches one of its own folders twice through links, before copying anything."""
    seen = {os.path.realpath(src)}
    for folder, subfolders, _ in os.walk(src, followlinks=True):
        for name in subfolders:
            real = os.path.realpath(os.path.join(folder, name))
            if real in seen:
                raise ValueError(f"path source: {os.path.join(folder, name)}: a link back to {real} (a link loop?)")
            seen.add(real)
