"""MkDocs hook: the reference pages written at build time from the code and results/, never by hand.

A page asks for a generated block with a marker on a line of its own (``<!-- ferpipe:params -->``);
an unknown marker stops the build, so a misspelt one cannot ship as an empty section.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- ferpipe:([a-z_]+) -->$", re.M)


def _params() -> str:
    from ferpipe.report.params_reference import reference

    return reference()


def _cli() -> str:
    import typer
    from typer.cli import get_docs_for_click

    from ferpipe.cli import app

    command = typer.main.get_command(app)
    text = get_docs_for_click(obj=command, ctx=typer.Context(command), name="ferpipe")
    return text.split("\n", 1)[1]  # the page has its own title


def _results() -> str:
    from ferpipe.presets.results import results_table

    return results_table(ROOT)


def _recipes() -> str:
    from ferpipe.presets.recipes import recipes_table

    return recipes_table(ROOT)


def _seeds() -> str:
    from ferpipe.presets.seeds import seeds_table

    return seeds_table(ROOT)


BLOCKS: dict[str, Callable[[], str]] = {
    "params": _params,
    "cli": _cli,
    "results": _results,
    "recipes": _recipes,
    "seeds": _seeds,
}


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    def block(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in BLOCKS:
            raise ValueError(f"{page.file.src_path}: no generated block {name!r} (have: {', '.join(BLOCKS)})")
        return BLOCKS[name]().rstrip("\n")

    return MARKER.sub(block, markdown)
