"""Regularized Xception (the Regularized Xception report)."""

from __future__ import annotations

from torch import nn

from ferpipe.models.layers.xception import Xception


def xception_reg(
    num_classes: int = 7, in_chans: int = 1, dropout: float = 0.5, middle: int = 8, classifier_l2: float = 0.01
) -> nn.Module:
    """Regularized Xception: Keras Xception-like net with dropout in the middle flow, L2 on the classifier."""
    return Xception(
        num_classes,
        in_chans,
        entry=(32, 64),
        blocks=(128, 256, 728),
        entry_stride=2,
        middle=middle,
        dropout=dropout,
        exit_widths=(728, 1024, 1536, 2048),
        classifier_l2=classifier_l2,
    )
