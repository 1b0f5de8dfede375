"""What every stage script shares: load params once, run, and answer errors by ferpipe's one contract."""

from __future__ import annotations

from collections.abc import Callable

from ferpipe.config import Paths, load_params
from ferpipe.errors import one_line_errors


def run_stage(fn: Callable[..., None], *args: str) -> None:
    """Call ``fn(*args, params=..., paths=...)`` under :func:`ferpipe.errors.one_line_errors`."""
    with one_line_errors():
        fn(*args, params=load_params(), paths=Paths())
