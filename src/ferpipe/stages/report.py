"""The ``report`` stage: the plot data ``dvc plots`` draws, then ``reports/report.html``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferpipe.config import Paths
from ferpipe.io import atomic_path
from ferpipe.report.html import REPORT_FILE, Contents, build_report, write_plot_data

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(params: Params, paths: Paths) -> None:
    """The ``report`` stage: plot data, then the HTML report."""
    contents = Contents.of(params)
    write_plot_data(contents, paths)
    target = paths.root / "reports" / REPORT_FILE
    with atomic_path(target) as tmp:
        tmp.write_text(build_report(contents, paths), encoding="utf-8")
    print(f"report: {target}")
