"""Scoring images with a trained model: what evaluation, the ensemble's classifier, predict,
distillation's teacher and the training loop's validation pass share."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferpipe.choices import DEFAULT_EVALUATE_BATCH_SIZE
from ferpipe.device import default_device, to_input
from ferpipe.labels import NUM_CLASSES


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: np.ndarray,
    batch_size: int = DEFAULT_EVALUATE_BATCH_SIZE,
    device: torch.device | None = None,
    autocast: torch.dtype | None = None,
) -> np.ndarray:
    """Logits (n, classes) for uint8 images, in evaluation mode; under ``autocast`` when given (the
    training loop's validation pass runs in the precision it trains in; scores that are kept stay fp32)."""
    device = device or default_device()
    model.eval().to(device)
    with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        out = [
            model(to_input(images[i : i + batch_size], device)).float().cpu() for i in range(0, len(images), batch_size)
        ]
    return torch.cat(out).numpy() if out else np.zeros((0, NUM_CLASSES), dtype=np.float32)
