"""Training checkpoints: the full state of a run after each epoch, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ferpipe.models.saved import save_atomically


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically: a kill mid-write leaves the previous one intact."""
    save_atomically(path, state)


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists and belongs to this run (same fingerprint), else None."""
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != fingerprint:
        print(f"ignoring checkpoint {path}: it was written for other params or data", flush=True)
        return None
    return state
