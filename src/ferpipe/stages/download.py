"""The ``download@<source>`` stage: one configured source materialised into ``data/raw/<source>``."""

from __future__ import annotations

from typing import Any

from ferpipe.config import Paths
from ferpipe.sources import materialise


def run(name: str, params: dict[str, Any], paths: Paths) -> None:
    """The ``download@<source>`` stage: materialise one configured source."""
    sources = params.get("sources", {})
    if name not in sources:
        raise ValueError(f"params: no source {name!r} under 'sources' (have: {', '.join(sources)})")
    n = materialise(name, sources[name].get("fetch", {}), paths.raw, paths.home)
    print(f"source {name}: {n} items in data/raw/{name}")
