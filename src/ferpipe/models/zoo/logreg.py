"""Logistic regression on raw pixels."""

from __future__ import annotations

from torch import nn


def logreg(num_classes: int = 7, in_chans: int = 1, image_size: int = 48) -> nn.Module:
    """Logistic regression on raw pixels: the floor any CNN must clear."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * image_size * image_size, num_classes))
