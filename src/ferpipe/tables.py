"""Plain-text tables that read the same in a terminal and in a CI log."""

from __future__ import annotations

from collections.abc import Sequence


def render(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
    """A boxed table; ``columns`` are (header, "left" | "right")."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header, justify in columns:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    console = Console(width=160, force_terminal=False, color_system=None)
    with console.capture() as capture:
        console.print(table)
    return "\n".join(line.rstrip() for line in capture.get().splitlines()) + "\n"


def markdown(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; ``columns`` are (header, "left" | "right")."""
    rule = ["---:" if justify == "right" else "---" for _, justify in columns]
    lines = [[header for header, _ in columns], rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
