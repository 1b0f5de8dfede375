"""HOG + linear SVM: the classical baseline of the reports."""

from __future__ import annotations

import torch
from torch import nn

from ferpipe.models.layers.hog import HOG


class HOGLinear(nn.Module):
    """HOG features, standardised, into one linear layer: with the hinge loss, a linear SVM.

    The standardisation (batch norm without learned scale, frozen in evaluation) plays the
    part of the StandardScaler in the usual HOG -> scaler -> LinearSVC pipeline.
    """

    criterion = "hinge"

    def __init__(self, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.hog = HOG(image_size)
        self.scale = nn.BatchNorm1d(self.hog.out_features, affine=False)
        self.classifier = nn.Linear(self.hog.out_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.scale(self.hog(x)))


def hog_svm(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """HOG features and a linear SVM (multi-class hinge loss): the classical baseline."""
    return HOGLinear(num_classes, image_size)
