"""Saved models: the architecture's name and arguments beside the weights, loaded safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ferpipe.io import atomic_path
from ferpipe.models import create_model

MODEL_FILE = "model.pt"


def save_model(path: Path, model: nn.Module, arch: str, args: dict[str, Any]) -> None:
    """Write weights plus what is needed to rebuild the model, atomically."""
    payload = {"arch": arch, "args": args, "state_dict": model.state_dict()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path: Path) -> nn.Module:
    """Rebuild a saved model; ``weights_only`` refuses pickled code from untrusted files."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = create_model(payload["arch"], **payload["args"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()
