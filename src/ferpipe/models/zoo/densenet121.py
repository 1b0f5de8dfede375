"""densenet121 from timm, trained from scratch."""

from __future__ import annotations

from torch import nn

from ferpipe.models.layers.timm_backbone import timm_backbone


def densenet121(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """DenseNet-121 (timm), from scratch; ``image_size`` upsamples the input."""
    return timm_backbone("densenet121", num_classes, in_chans, image_size)
