"""``ferpipe comment``: the pull-request comment a user's CI posts, as Markdown with its pictures.

It holds the gate's table against the base branch (every tracked metric with the interval of its
change and whether it is beyond noise), the gate's verdict, and ``dvc plots diff`` against the
base: DVC's own Vega-Lite plots of both revisions, rendered to PNG with ``vl-convert`` (no
browser, no Node). The workflows in ``.github/workflows/`` and ``.gitlab-ci.yml`` post it with
CML (``cml comment update``), which uploads the pictures the Markdown names and edits one comment
per pull request instead of adding one per push.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ferpipe.checks.gate import gate_checks, markdown_table, summary
from ferpipe.io import write_text

REPORT = "report.md"
# The plots worth a picture in a comment; confusion charts only for models whose numbers moved
ALWAYS = ("validation_accuracy", "training_loss", "class_distribution")


def plots_diff(root: Path, base: str) -> dict[str, list[dict[str, Any]]]:
    """``dvc plots diff BASE --json``: each plot's Vega-Lite spec with both revisions' data inlined."""
    cmd = [sys.executable, "-m", "dvc", "plots", "diff", base, "--json"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise ValueError(f"`dvc plots diff {base}` failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return json.loads(done.stdout or "{}").get("data", {})


def _wanted(plot: str, moved: set[str]) -> bool:
    return plot in ALWAYS or (plot.startswith("metrics/confusion/") and Path(plot).stem in moved)


def write_comment(root: Path, base: str, folder: Path) -> Path:
    """Write ``folder/report.md`` and the PNGs it shows; returns the Markdown's path."""
    import vl_convert

    checks, baseline = gate_checks(root, rev=base)
    moved = {Path(c.name.partition(":")[0]).stem for c in checks if c.change}
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    for plot, renders in plots_diff(root, baseline).items():
        for index, found in enumerate(r for r in renders if r.get("type") == "vega"):
            if not _wanted(plot, moved):
                continue
            name = f"{plot.replace('/', '_').removesuffix('.csv')}{f'_{index}' if index else ''}.png"
            (folder / name).write_bytes(vl_convert.vegalite_to_png(found["content"], scale=1.5))
            pictures.append((plot, name))
    lines = [
        f"## ferpipe: this branch against `{baseline}`",
        "",
        markdown_table(checks, baseline),
        "```",
        summary(checks),
        "```",
        "",
        f"### `dvc plots diff {baseline}`",
        "",
        *(f"**{plot}**\n\n![{plot}](./{name})\n" for plot, name in pictures),
    ]
    if not pictures:
        lines.append("(no plot to compare)")
    path = folder / REPORT
    write_text(path, "\n".join(lines) + "\n")
    return path
