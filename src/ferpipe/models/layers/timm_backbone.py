"""ImageNet architectures from timm, trained from scratch on 1-channel faces."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Upsample(nn.Module):
    """Resize the 48x48 input to the size a deep net was built for (identity at 48)."""

    def __init__(self, net: nn.Module, size: int) -> None:
        super().__init__()
        self.net, self.size = net, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x)


def timm_backbone(name: str, num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    """A timm architecture by name, from scratch, taking ``image_size`` x ``image_size`` input."""
    import timm

    net = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_chans)
    return Upsample(net, image_size)
