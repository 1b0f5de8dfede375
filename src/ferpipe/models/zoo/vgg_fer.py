"""Khaireddin & Chen 2021's VGG variant, trained and tested on ten crops."""

from __future__ import annotations

from torch import nn

from ferpipe.models.crops import TenCrop
from ferpipe.models.layers.vgg import flat_size, vgg_stage


def vgg_fer(
    num_classes: int = 7, in_chans: int = 1, dropout: float = 0.2, crop: int = 40, ten_crop: bool = True
) -> nn.Module:
    """VGG variant of Khaireddin & Chen 2021: 4 stages 64-512, FC 4096-4096, ten-crop train and test.

    ``ten_crop: false`` trains and tests on the whole 48x48 image, one view: ten times cheaper,
    for a CPU budget (and for reports whose VGG saw plain images).
    """
    features = nn.Sequential(
        *[vgg_stage(cin, cout) for cin, cout in ((in_chans, 64), (64, 128), (128, 256), (256, 512))]
    )
    flat = flat_size(features, in_chans, crop if ten_crop else 48)
    net = nn.Sequential(
        features,
        nn.Flatten(),
        nn.Linear(flat, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(4096, num_classes),
    )
    return TenCrop(net, crop=crop) if ten_crop else net
