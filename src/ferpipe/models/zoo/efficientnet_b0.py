"""efficientnet_b0 from timm, trained from scratch."""

from __future__ import annotations

from torch import nn

from ferpipe.models.layers.timm_backbone import timm_backbone


def efficientnet_b0(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """EfficientNet-B0 (timm), from scratch; ``image_size`` upsamples the input."""
    return timm_backbone("efficientnet_b0", num_classes, in_chans, image_size)
