"""The ``watch`` stage: each source's fingerprint in ``data/watch/<source>.json`` (always run).

``download@<source>`` depends on its file, so a change inside a local source's own files (which
DVC does not hash: they live outside the repository) reruns that download and what follows it.
"""

from __future__ import annotations

from typing import Any

from ferpipe.config import Paths
from ferpipe.sources.fingerprint import write_fingerprints


def run(params: dict[str, Any], paths: Paths) -> None:
    """Write every configured source's fingerprint."""
    write_fingerprints(params.get("sources", {}), paths.home, paths.watch)
