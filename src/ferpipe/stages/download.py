"""The ``download@<source>`` stage: one configured source materialised into ``data/raw/<source>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferpipe.config import Paths
from ferpipe.sources import materialise

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(name: str, params: Params, paths: Paths) -> None:
    """The ``download@<source>`` stage: materialise one configured source."""
    if name not in params.sources:
        raise ValueError(f"params: no source {name!r} under 'sources' (have: {', '.join(params.sources)})")
    n = materialise(name, params.sources[name].fetch, paths.raw, paths.home)
    print(f"source {name}: {n} items in data/raw/{name}")
