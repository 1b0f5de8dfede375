"""Saved model files: the weights with what rebuilds the model, written atomically and read with
``weights_only`` (no pickled code from an untrusted file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ferpipe.io import atomic_path
from ferpipe.models.registry import create_model
from ferpipe.models.tta import with_tta


def save_atomically(path: Path, payload: dict[str, Any]) -> None:
    """torch.save atomically, through a file handle: given a path, torch names the archive's records
    after the (temporary, random) file name, so equal weights would hash differently every run."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


def save_model(path: Path, model: nn.Module, arch: str, args: dict[str, Any]) -> None:
    """Write weights plus what is needed to rebuild the model, atomically; equal weights, equal bytes."""
    save_atomically(path, {"arch": arch, "args": args, "state_dict": model.state_dict()})


def load_model(path: Path, tta: str = "none") -> nn.Module:
    """Rebuild a saved model for inference, with the test-time views ``tta`` names (``evaluate.tta``)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = create_model(payload["arch"], **payload["args"])
    model.load_state_dict(payload["state_dict"])
    return with_tta(model, tta)
