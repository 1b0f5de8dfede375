"""ferpipe's compact baseline CNN."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ferpipe.models.crops import CentreCrop


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def simple_cnn(
    num_classes: int = 7,
    in_chans: int = 1,
    widths: Sequence[int] = (32, 64, 128),
    dropout: float = 0.3,
    pooled: int = 1,
    crop: int = 0,
) -> nn.Module:
    """A compact VGG-style CNN: blocks of two 3x3 conv+BN+ReLU and max-pooling, then a linear classifier.

    ``pooled`` is the side of the grid the last features are averaged to before the classifier:
    1 is global average pooling; 3 (the whole 3x3 map after four blocks) keeps where on the
    face a feature fired, which matters on aligned faces, at no cost in convolutions.
    ``crop`` (0: the whole face) trains and tests the net on ``crop`` x ``crop`` crops
    (models.crops.CentreCrop): 40 costs 0.7 of the whole 48x48 face and leaves its four
    blocks a 2x2 map (``pooled: 2``); ``evaluate.tta: ten_crop`` scores it on ten crops.
    """
    smallest = 2 ** len(widths)  # each block halves the side
    if crop and not smallest <= crop <= 48:
        raise ValueError(f"crop must be 0 (the whole face) or {smallest}..48 for {len(widths)} blocks, got {crop}")
    layers, cin = [], in_chans
    for width in widths:
        layers.append(_conv_block(cin, width))
        cin = width
    net = nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool2d(pooled),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(cin * pooled * pooled, num_classes),
    )
    return CentreCrop(net, crop) if crop else net
