"""Crops of a face: the centre crop that a crop-trained model sees, and the ten views (four
corners, centre, and their mirrors) such a model is scored on, as in Khaireddin & Chen 2021.

A net that sees 40x40 crops of the 48x48 faces costs about 0.7 of one that sees them whole,
and averaging its ten crops at test time is the trick the strongest FER2013 recipes share.
"""

from __future__ import annotations

import torch
from torch import nn


def crop_corners(size: int, crop: int) -> tuple[tuple[int, int], ...]:
    """Top-left corners (row, column) of the four corner crops and the centre crop."""
    far, mid = size - crop, (size - crop) // 2
    return ((0, 0), (0, far), (far, 0), (far, far), (mid, mid))


def ten_crops(x: torch.Tensor, crop: int) -> torch.Tensor:
    """(n, c, h, w) -> (10 * n, c, crop, crop), crop-major: the five crops, then their mirrors."""
    views = [x[..., i : i + crop, j : j + crop] for i, j in crop_corners(x.shape[-1], crop)]
    return torch.cat(views + [v.flip(-1) for v in views], dim=0)


class CentreCrop(nn.Module):
    """A net that sees ``crop`` x ``crop`` faces: a larger input is cut to its centre.

    In training the loop's random shift has already moved each face (up to ``augment.max_shift``),
    so the centre of the warped image is a random crop. At test time the ten-crop views
    (``evaluate.tta: ten_crop``) hand it crops of its own size, which pass through.
    """

    def __init__(self, net: nn.Module, crop: int) -> None:
        super().__init__()
        self.net, self.crop = net, crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = x.shape[-1]
        if side != self.crop:
            start = (side - self.crop) // 2
            x = x[..., start : start + self.crop, start : start + self.crop]
        return self.net(x)


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


class TenCropAverage(nn.Module):
    """The mean of a crop-trained model's logits over the ten crops of each image."""

    def __init__(self, model: nn.Module, crop: int) -> None:
        super().__init__()
        self.model, self.crop = model, crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(ten_crops(x, self.crop)).view(10, x.shape[0], -1).mean(dim=0)
