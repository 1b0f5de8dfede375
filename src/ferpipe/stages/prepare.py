"""The ``prepare`` stage: every source merged and cleaned into ``data/prepared``, with the data report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferpipe.config import Paths
from ferpipe.data.dataset import save_prepared
from ferpipe.data.prepare import (
    prepare,
    prepare_headline,
)
from ferpipe.io import atomic_path, write_json

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(params: Params, paths: Paths) -> None:
    """The ``prepare`` stage: write the merged dataset and its data report."""
    result = prepare(params.sources, paths.raw, params.prepare)
    save_prepared(paths.prepared, result.images, result.manifest)
    write_json(paths.detail("data_report"), result.report)
    write_json(paths.headline("prepare"), prepare_headline(result.report))
    with atomic_path(paths.skipped) as tmp:
        result.skipped.to_csv(tmp, index=False)
    print(f"prepared {result.report['total']} images: {result.report['splits']}")
    for what, n in result.report["dropped"].items():
        print(f"  dropped {n:>6}  {what}")
    if len(result.skipped):
        where = paths.skipped.relative_to(paths.root)
        print(f"  {len(result.skipped)} items left out, each with its file, row and reason: {where}")
