"""The ``watch`` stage: each source's fingerprint in ``data/watch/<source>.json`` (always run).

``download@<source>`` depends on its file, so a change inside a local source's own files (which
DVC does not hash: they live outside the repository) reruns that download and what follows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferpipe.config import Paths
from ferpipe.sources.fingerprint import write_fingerprints

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(params: Params, paths: Paths) -> None:
    """Write every configured source's fingerprint."""
    write_fingerprints(params.sources, paths.home, paths.watch)
