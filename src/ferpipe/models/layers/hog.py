"""HOG features as a fixed torch layer, for the two HOG models of the reports (hog_svm, hog_cnn).

Written in torch rather than taken from scikit-image or OpenCV so that the HOG models train,
checkpoint, log, serve and export like every other model, and so ``hog_cnn`` can compute its
HOG input inside one graph (on the GPU when there is one).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class HOG(nn.Module):
    """Histograms of oriented gradients (Dalal & Triggs): unsigned orientations, L2-Hys blocks."""

    def __init__(self, image_size: int = 48, cell: int = 8, bins: int = 9, block: int = 2) -> None:
        super().__init__()
        self.cell, self.bins, self.block, self.eps = cell, bins, block, 1e-3
        kernel = torch.tensor([[-1.0, 0.0, 1.0]])
        self.register_buffer("kx", kernel.view(1, 1, 1, 3), persistent=False)
        self.register_buffer("ky", kernel.view(1, 1, 3, 1), persistent=False)
        self.register_buffer("centres", torch.arange(bins, dtype=torch.float32).view(1, bins, 1, 1), persistent=False)
        cells = image_size // cell
        self.out_features = bins * block * block * (cells - block + 1) ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().mean(dim=1, keepdim=True)  # HOG of the grey image
        gx = F.conv2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), self.kx)
        gy = F.conv2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), self.ky)
        magnitude = torch.sqrt(gx * gx + gy * gy)
        position = torch.remainder(torch.atan2(gy, gx), math.pi) / (math.pi / self.bins) - 0.5
        # soft (linear) assignment to the two nearest orientation bins, wrapping around
        distance = torch.remainder(position - self.centres + self.bins / 2, self.bins) - self.bins / 2
        votes = magnitude * torch.clamp(1 - distance.abs(), min=0)
        cells = F.avg_pool2d(votes, self.cell) * self.cell**2  # summed votes: (n, bins, cells, cells)
        blocks = F.unfold(cells, self.block).transpose(1, 2)  # (n, positions, bins * block^2)
        # L2-Hys; eps keeps flat blocks (no gradient) at zero instead of blowing up noise
        blocks = F.normalize(blocks, dim=2, eps=self.eps).clamp(max=0.2)
        blocks = F.normalize(blocks, dim=2, eps=self.eps)
        return blocks.flatten(1)
