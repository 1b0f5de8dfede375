"""The staleness check: do the committed results still match the committed code and params?

It reads DVC's machine-readable ``dvc status --json`` and sorts each stage's changes by cause:
changed code, changed params, a changed command, an output modified after DVC wrote it (all of
them stale), and outputs or upstream data that are simply missing (a fresh clone has no
``data/``: not stale).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STALE_CAUSES = ("changed code", "changed params", "changed command", "changed data", "modified output")


@dataclass(frozen=True)
class Change:
    """One reason DVC gives for one stage: what kind of change, and where."""

    stage: str
    cause: str  # one of STALE_CAUSES, or "missing output" / "missing data"
    where: str

    @property
    def stale(self) -> bool:
        return self.cause in STALE_CAUSES


def dvc_status(root: Path) -> dict[str, Any]:
    """``dvc status --json`` of the workspace."""
    cmd = [sys.executable, "-m", "dvc", "status", "--json"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"`dvc status --json` failed in {root}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout or "{}")


def pipeline_outputs(root: Path) -> set[str]:
    """Every output path dvc.lock records: a dep among them comes from another stage."""
    lock = root / "dvc.lock"
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}) if lock.exists() else {}
    return {out["path"] for stage in stages.values() for out in stage.get("outs", [])}


def classify(status: dict[str, Any], outputs: set[str]) -> list[Change]:
    """Each stage's entries in ``dvc status --json``, one :class:`Change` per path or param.

    Data another stage produces counts as missing, not changed, when part of it is missing (a
    fresh clone: a folder holding only its .gitignore is "modified" to DVC).
    """
    missing_outs = {
        path
        for entries in status.values()
        for entry in entries
        if isinstance(entry, dict)
        for path, state in entry.get("changed outs", {}).items()
        if state in ("deleted", "not in cache")
    }
    changes: list[Change] = []
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, str):  # "changed command", "always changed", ...
                changes.append(Change(stage, "changed command" if "command" in entry else entry, stage))
                continue
            for path, state in entry.get("changed deps", {}).items():
                if isinstance(state, dict):  # a params file: {key: "modified" | "new" | "deleted"}
                    changes += [Change(stage, "changed params", f"{path}:{key}") for key in sorted(state)]
                elif _produced(path, outputs):
                    gone = state == "deleted" or _produced(path, missing_outs)
                    changes.append(Change(stage, "missing data" if gone else "changed data", path))
                else:
                    changes.append(Change(stage, "changed code", f"{path} ({state})"))
            for path, state in entry.get("changed outs", {}).items():
                missing = state in ("deleted", "not in cache")
                changes.append(Change(stage, "missing output" if missing else "modified output", f"{path} ({state})"))
    return changes


def _produced(path: str, outputs: set[str]) -> bool:
    return any(path == out or path.startswith(f"{out}/") or out.startswith(f"{path}/") for out in outputs)


def check(root: Path) -> list[Change]:
    """Every change DVC reports for the workspace against dvc.lock, after refreshing the sources'
    fingerprints (what the always-run ``watch`` stage would write) so a changed local source shows."""
    from ferpipe.config import Paths, load_params
    from ferpipe.sources.fingerprint import write_fingerprints

    paths = Paths(root)
    write_fingerprints(load_params(root / "params.yaml").sources, paths.home, paths.watch)
    return classify(dvc_status(root), pipeline_outputs(root))


def stale_stages(root: Path) -> list[str]:
    """The stages whose committed results do not match the code, params, command or outputs."""
    return sorted({c.stage for c in check(root) if c.stale})
