"""Tiny-Xception (the multi-pipeline report)."""

from __future__ import annotations

from torch import nn

from ferpipe.models.layers.xception import Xception


def tiny_xception(num_classes: int = 7, in_chans: int = 1, dropout: float = 0.2) -> nn.Module:
    """Tiny-Xception (multi-pipeline report): a narrow Xception with a short middle flow."""
    return Xception(num_classes, in_chans, entry=(16, 32), blocks=(64, 128, 256), middle=2, dropout=dropout)
