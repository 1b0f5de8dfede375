"""Atomic writes: a killed stage must never leave a half-written file that DVC would accept.

Temporaries are hidden siblings named ``.<target>.<random>.tmp``: the rename into place is then
atomic (same file system). A kill leaves one behind; the next write of the same target removes
it, and ``.dvcignore`` and ``.gitignore`` keep the pattern out of DVC's hashes and git's status
meanwhile. One writer per target is assumed (stages run one at a time per workspace).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def _default_mode(directory: bool) -> int:
    """The permissions a plain open() or mkdir() would give under the current umask.

    mkstemp and mkdtemp create private (0600/0700) entries; outputs should not be.
    """
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _temp_prefix(target: Path) -> str:
    """Create the parent folder, remove a killed earlier write's temporaries, and return their prefix."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}."
    for stale in target.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    return prefix


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place only on success."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(target), suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _default_mode(directory=False))
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; swap it into place only on success."""
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=_temp_prefix(target), suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, _default_mode(directory=True))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_json(path: Path) -> Any:
    """A JSON file's content, or an empty dict where it has not been written yet."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_json(path: Path, data: Any) -> None:
    """Write pretty, key-sorted JSON atomically (stable bytes for git and DVC)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def replace_between(path: Path, start: str, end: str, body: str) -> bool:
    """Rewrite the text between the ``start`` and ``end`` markers of ``path`` (a generated block of
    the README) with ``body``; False, with nothing written, when the markers are missing."""
    text = path.read_text(encoding="utf-8")
    begin, finish = text.find(start), text.find(end)
    if begin < 0 or finish < begin:
        return False
    new = text[: begin + len(start)] + "\n" + body + "\n" + text[finish:]
    if new != text:
        write_text(path, new)
    return True


def save_npy(path: Path, array: np.ndarray) -> None:
    """Save an array as ``.npy`` (memory-mappable) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
