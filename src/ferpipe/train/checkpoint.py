"""Saved models and training checkpoints, written atomically and loaded with ``weights_only``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ferpipe.io import atomic_path
from ferpipe.models import create_model
from ferpipe.models.tta import with_tta


def _save(path: Path, payload: dict[str, Any]) -> None:
    """torch.save atomically, through a file handle: given a path, torch names the archive's records
    after the (temporary, random) file name, so equal weights would hash differently every run."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


def save_model(path: Path, model: nn.Module, arch: str, args: dict[str, Any]) -> None:
    """Write weights plus what is needed to rebuild the model, atomically; equal weights, equal bytes."""
    _save(path, {"arch": arch, "args": args, "state_dict": model.state_dict()})


def load_model(path: Path, tta: str = "none") -> nn.Module:
    """Rebuild a saved model for inference, with the test-time views ``tta`` names (``evaluate.tta``);
    ``weights_only`` refuses pickled code from untrusted files."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = create_model(payload["arch"], **payload["args"])
    model.load_state_dict(payload["state_dict"])
    return with_tta(model, tta)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically: a kill mid-write leaves the previous one intact."""
    _save(path, state)


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists and belongs to this run (same fingerprint), else None."""
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != fingerprint:
        print(f"ignoring checkpoint {path}: it was written for other params or data", flush=True)
        return None
    return state
