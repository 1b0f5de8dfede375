"""The multi-pipeline report's HOG-CNN: a CNN fed with the image and its HOG features."""

from __future__ import annotations

import torch
from torch import nn

from ferpipe.models.layers.hog import HOG


class HOGCNN(nn.Module):
    """Two branches: a small CNN on the image and a dense layer on its HOG, joined before the classifier."""

    def __init__(
        self, num_classes: int, in_chans: int, image_size: int, widths: tuple[int, ...], hog_units: int, dropout: float
    ) -> None:
        super().__init__()
        layers, cin = [], in_chans
        for width in widths:
            layers += [
                nn.Conv2d(cin, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            cin = width
        self.image = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.hog = HOG(image_size)
        self.hog_dense = nn.Sequential(nn.Linear(self.hog.out_features, hog_units), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin + hog_units, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.image(x), self.hog_dense(self.hog(x))], dim=1))


def hog_cnn(
    num_classes: int = 7,
    in_chans: int = 1,
    image_size: int = 48,
    widths: tuple[int, ...] = (32, 64, 128),
    hog_units: int = 128,
    dropout: float = 0.3,
) -> nn.Module:
    """A CNN fed with the image and its HOG features (the multi-pipeline report's HOG-CNN)."""
    return HOGCNN(num_classes, in_chans, image_size, tuple(widths), hog_units, dropout)
