"""ImageNet architectures from timm, trained from scratch on 1-channel faces."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ferpipe.models.registry import register


class Upsample(nn.Module):
    """Resize the 48x48 input to the size a deep net was built for (identity at 48)."""

    def __init__(self, net: nn.Module, size: int) -> None:
        super().__init__()
        self.net, self.size = net, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x)


def _timm(name: str, num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    import timm

    net = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    return Upsample(net, image_size)


@register
def densenet121(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """DenseNet-121 (timm), from scratch; ``image_size`` upsamples the input."""
    return _timm("densenet121", num_classes, in_chans, image_size)


@register
def efficientnet_b0(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """EfficientNet-B0 (timm), from scratch; ``image_size`` upsamples the input."""
    return _timm("efficientnet_b0", num_classes, in_chans, image_size)


@register
def resnet18(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """ResNet-18 (timm), from scratch; ``image_size`` upsamples the input."""
    return _timm("resnet18", num_classes, in_chans, image_size)
