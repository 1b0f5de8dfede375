"""Presets: named sets of params (``presets/<name>.yaml``) written into ``params.yaml``.

Each top-level key of the preset replaces the same key of params.yaml wholesale; the rest of
params.yaml, comments included, is kept (ruamel round-trips it), so ``git diff params.yaml``
shows exactly what the preset changed and ``git checkout params.yaml`` undoes it. A preset's
``include: [other, ...]`` writes those presets first, then its own keys over them (the data
presets share one training recipe that way).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ferpipe.io import atomic_path


def available(root: Path) -> list[str]:
    """Names of the presets in ``presets/``."""
    return sorted(p.stem for p in (root / "presets").glob("*.yaml"))


def apply_preset(name: str, root: Path) -> list[str]:
    """Write preset ``name`` (with what it includes) into ``params.yaml``; returns the top-level keys it replaced."""
    return write_params(root, load_preset(name, root))


def load_preset(name: str, root: Path, including: tuple[str, ...] = ()) -> dict[str, Any]:
    """Preset ``name``'s top-level keys, over those of the presets it includes (comments kept)."""
    from ruamel.yaml import YAML

    source = root / "presets" / f"{name}.yaml"
    if not source.exists():
        raise ValueError(f"{source}: no such preset; available: {', '.join(available(root)) or 'none'}")
    if name in including:
        raise ValueError(f"{source}: includes itself ({' -> '.join([*including, name])})")
    yaml = YAML()
    yaml.preserve_quotes = True
    own = yaml.load(source.read_text(encoding="utf-8")) or {}
    included = own.pop("include", None) or []
    merged: dict[str, Any] = {}
    for other in [included] if isinstance(included, str) else included:
        merged.update(load_preset(str(other), root, (*including, name)))
    merged.update(own)
    return merged


def with_overrides(updates: dict[str, Any], current: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``updates`` (top-level params keys to write) with ``key.path=value`` overrides applied; an
    override under a key the updates do not replace starts from that key's ``current`` value."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ValueError(f"override {override!r}: expected key.path=value")
        top, *path = key.split(".")
        node = updates.setdefault(top, copy.deepcopy(current.get(top, {})))
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if path:
            node[path[-1]] = yaml.safe_load(value)
        else:
            updates[top] = yaml.safe_load(value)
    return updates


def write_params(root: Path, updates: Mapping[str, Any]) -> list[str]:
    """Replace top-level keys of ``params.yaml`` wholesale, keeping the rest and its comments."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    params_path = root / "params.yaml"
    document = yaml.load(params_path.read_text(encoding="utf-8"))
    for key, value in updates.items():
        document[key] = value
    with atomic_path(params_path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        yaml.dump(document, handle)
    return list(updates)


def committed_params(root: Path) -> str:
    """HEAD's params.yaml: what a report run starts from, so that what an earlier run left in the
    workspace (``dvc exp run`` applies a finished run's params, a leaky variant's ``audit.policy:
    keep`` among them) never carries into the next report's run."""
    import subprocess

    done = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"{root / 'params.yaml'}: no committed version to start from ({done.stderr.strip()})")
    return done.stdout


def start_from_committed(root: Path, updates: Mapping[str, Any]) -> bool:
    """Write HEAD's params.yaml with ``updates`` over it; True when the workspace's differed (its
    changes are left out of the run)."""
    params_path = root / "params.yaml"
    committed = committed_params(root)
    differed = params_path.read_text(encoding="utf-8") != committed
    with atomic_path(params_path) as tmp:
        tmp.write_text(committed, encoding="utf-8")
    write_params(root, updates)
    return differed


RESTORED = ("params.yaml", "dvc.lock", "metrics")


def restore_committed(root: Path) -> str:
    """Back to the committed pipeline after a preset, a ``dvc exp run`` or ``ferpipe reproduce``.

    params.yaml, dvc.lock and metrics/ come back from HEAD, in the index too (DVC's autostage
    may have staged a preset's lock), files the preset's stages left in metrics/ are removed,
    then ``dvc repro`` restores every stage that DVC's run-cache holds instead of rerunning
    it: nothing is retrained that was trained before with the committed params and data.
    Returns ``dvc repro``'s output.
    """
    import subprocess
    import sys

    def call(*cmd: str) -> str:
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            raise ValueError(f"`{' '.join(cmd)}` failed: {(done.stderr or done.stdout).strip()[-2000:]}")
        return done.stdout + done.stderr

    call("git", "restore", "--source=HEAD", "--staged", "--worktree", "--", *RESTORED)
    call("git", "clean", "-fdq", "--", "metrics")
    return call(sys.executable, "-m", "dvc", "repro")
