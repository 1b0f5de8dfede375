"""VGG stages (two conv+BN+ReLU, then pooling), shared by vgg_fer and the six-model study's cnn_keras."""

from __future__ import annotations

import torch
from torch import nn


def vgg_stage(
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


def flat_size(features: nn.Module, in_chans: int, size: int) -> int:
    """Features out of ``features`` for one ``size`` x ``size`` image: the first linear layer's width."""
    with torch.no_grad():
        return features(torch.zeros(1, in_chans, size, size)).numel()
