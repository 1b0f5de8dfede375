"""mini-Xception (Arriaga et al. 2017)."""

from __future__ import annotations

from torch import nn

from ferpipe.models.layers.xception import Xception


def mini_xception(num_classes: int = 7, in_chans: int = 1) -> nn.Module:
    """mini-Xception (Arriaga et al. 2017): four residual separable modules, conv head, about 58k params."""
    return Xception(num_classes, in_chans, entry=(8, 8), blocks=(16, 32, 64, 128), conv_head=True)
