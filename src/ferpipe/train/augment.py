"""Batch augmentation with tensor ops: one affine warp per image, done for the whole batch.

It runs where the batch is (on the GPU when there is one) and replaces per-sample PIL work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Random mirror, rotation, scale and shift applied to training batches."""

    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.08
    scale_range: tuple[float, float] = (0.9, 1.1)

    @property
    def enabled(self) -> bool:
        return self.flip or self.max_rotation_deg > 0 or self.max_shift > 0 or self.scale_range != (1.0, 1.0)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Warp a batch (n, c, h, w) of floats; random draws come from ``generator`` (CPU) for determinism."""
    if not cfg.enabled:
        return x
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg) * (math.pi / 180)
    scale = uniform(*cfg.scale_range)
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * cfg.max_shift * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * mirror, -sin, shift[:, 0]], 1), torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
