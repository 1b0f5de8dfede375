"""resnet18 from timm, trained from scratch."""

from __future__ import annotations

from torch import nn

from ferpipe.models.layers.timm_backbone import timm_backbone


def resnet18(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """ResNet-18 (timm), from scratch; ``image_size`` upsamples the input."""
    return timm_backbone("resnet18", num_classes, in_chans, image_size)
