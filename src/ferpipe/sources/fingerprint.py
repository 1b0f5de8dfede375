"""What a source's local files hold, as a small record DVC can compare between runs.

A ``path`` source (or a ``location`` that names a local path) lives outside the repository, so
DVC does not hash it: a label changed in the user's own copy would leave ``dvc repro`` with
nothing to do. The ``watch`` stage (always run, a few hundred milliseconds) writes each source's
fingerprint to ``data/watch/<source>.json``; ``download@<source>`` depends on that file, so it
and only what depends on it rerun when the files change.

Sources that are not local files (synthetic, URLs, Kaggle) get a constant record: their params
are already the stage's dependency.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferpipe.io import write_json

if TYPE_CHECKING:
    from ferpipe.schema import Fetch, Source

CHUNK = 1 << 20


def local_path(fetch: Fetch) -> str | None:
    """The local file or folder a source's fetch section reads, or None for other kinds."""
    if fetch.kind == "path":
        return fetch.path
    if fetch.kind == "location" and not fetch.where.startswith(("kaggle:", "http://", "https://")):
        return fetch.where
    return None


def fingerprint(fetch: Fetch, root: Path) -> dict[str, Any]:
    """The content hash of a local source's files (path, size and bytes of each), or its kind."""
    where = local_path(fetch)
    if where is None:
        return {"kind": fetch.kind}
    path = (root / where).resolve()
    if not path.exists():
        return {"path": where, "missing": True}  # the download stage says so, naming the path
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in _walk(path) if p.is_file())
    for file in files:
        digest.update(f"{file.relative_to(path) if file != path else file.name}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return {"path": where, "files": len(files), "sha256": digest.hexdigest()}


def write_fingerprints(sources: Mapping[str, Source], root: Path, folder: Path) -> None:
    """Every source's fingerprint as ``folder/<source>.json``; a file whose bytes do not change keeps
    DVC quiet, and the file of a source taken out of params goes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        write_json(folder / f"{name}.json", fingerprint(source.fetch, root))
    for old in folder.glob("*.json"):
        if old.stem not in sources:
            old.unlink()


def _walk(folder: Path) -> list[Path]:
    """Every file below ``folder`` as the copy sees it: links followed, but only inside it."""
    found = []
    for here, _, names in os.walk(folder, followlinks=True):
        for name in names:
            file = Path(here, name)
            if Path(os.path.realpath(file)).is_relative_to(os.path.realpath(folder)):
                found.append(file)
    return found
