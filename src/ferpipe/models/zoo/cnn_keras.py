"""The six Keras CNNs of the six-model study (one function, ``variant`` 1..6)."""

from __future__ import annotations

from torch import nn

from ferpipe.models.layers.vgg import flat_size, vgg_stage


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
        stages.append(vgg_stage(cin, width, kernel, padding, pool, dropout=0.25))
        cin = width
    features = nn.Sequential(*stages)
    flat = flat_size(features, in_chans, image_size)
    return nn.Sequential(
        features,
        nn.Flatten(),
        nn.Linear(flat, 256),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(256, num_classes),
    )
