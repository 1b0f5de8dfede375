"""VGG-style CNNs: Khaireddin & Chen's VGG variant with ten-crop training and testing, and the
six Keras CNNs of the six-model study."""

from __future__ import annotations

import torch
from torch import nn

from ferpipe.models.crops import ten_crops
from ferpipe.models.registry import register


class TenCrop(nn.Module):
    """Ten crops (four corners, centre, and their mirrors) of each image.

    In training the net sees all ten crops of every image (``train_views`` tells the loop to
    repeat the labels); in evaluation the ten crops' logits are averaged, so the model takes
    plain 48x48 images either way.
    """

    train_views = 10

    mirrored_views = True  # test-time flip averaging would add nothing (ferpipe.models.tta)

    def __init__(self, net: nn.Module, crop: int = 40) -> None:
        super().__init__()
        self.net, self.crop = net, crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(ten_crops(x, self.crop))
        if self.training:
            return logits
        return logits.view(10, x.shape[0], -1).mean(dim=0)


def _vgg_stage(
    cin: int,
    cout: int,
    kernel: int = 3,
    padding: tuple[int, int] = (1, 1),
    pool: type[nn.Module] = nn.MaxPool2d,
    dropout: float = 0.0,
) -> nn.Sequential:
    """Two conv+BN+ReLU, then 2x2 pooling (and optional dropout)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=padding[0], bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, kernel, padding=padding[1], bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        pool(2),
        nn.Dropout(dropout) if dropout else nn.Identity(),
    )


def _flat_size(features: nn.Module, in_chans: int, size: int) -> int:
    with torch.no_grad():
        return features(torch.zeros(1, in_chans, size, size)).numel()


@register
def vgg_fer(
    num_classes: int = 7, in_chans: int = 1, dropout: float = 0.2, crop: int = 40, ten_crop: bool = True
) -> nn.Module:
    """VGG variant of Khaireddin & Chen 2021: 4 stages 64-512, FC 4096-4096, ten-crop train and test.

    ``ten_crop: false`` trains and tests on the whole 48x48 image, one view: ten times cheaper,
    for a CPU budget (and for reports whose VGG saw plain images).
    """
    features = nn.Sequential(
        *[_vgg_stage(cin, cout) for cin, cout in ((in_chans, 64), (64, 128), (128, 256), (256, 512))]
    )
    flat = _flat_size(features, in_chans, crop if ten_crop else 48)
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


@register
def cnn_keras(num_classes: int = 7, in_chans: int = 1, variant: int = 1, image_size: int = 48) -> nn.Module:
    """The six-model study's Keras CNNs (variant 1..6): blocks of two convs, BN, pool, dropout 0.25."""
    if variant not in range(1, 7):
        raise ValueError(f"cnn_keras: variant must be 1..6, got {variant}")
    widths = (32, 64, 128, 256) if variant == 5 else (32, 64, 128)
    if variant == 3:
        widths = tuple(2 * w for w in widths)
    kernel = 5 if variant == 4 else 3
    same = kernel // 2
    stages, cin = [], in_chans
    for i, width in enumerate(widths):
        pool = nn.AvgPool2d if variant == 2 and i > 0 else nn.MaxPool2d
        padding = (same, 0) if variant == 6 else (same, same)  # model 6: every second conv 'valid'
        stages.append(_vgg_stage(cin, width, kernel, padding, pool, dropout=0.25))
        cin = width
    features = nn.Sequential(*stages)
    flat = _flat_size(features, in_chans, image_size)
    return nn.Sequential(
        features,
        nn.Flatten(),
        nn.Linear(flat, 256),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(256, num_classes),
    )
