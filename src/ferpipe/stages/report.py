"""The ``report`` stage: the plot data ``dvc plots`` draws, then ``reports/report.html``."""

from __future__ import annotations

from typing import Any

from ferpipe.config import Paths
from ferpipe.io import atomic_path
from ferpipe.report.html import (
    REPORT_FILE,
    build_report,
    write_plot_data,
)


def run(params: dict[str, Any], paths: Paths) -> None:
    """The ``report`` stage: plot data, then the HTML report."""
    write_plot_data(params, paths)
    target = paths.root / "reports" / REPORT_FILE
    with atomic_path(target) as tmp:
        tmp.write_text(build_report(params, paths), encoding="utf-8")
    print(f"report: {target}")
