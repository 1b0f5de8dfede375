"""Batch augmentation with tensor ops: one affine warp per image, done for the whole batch, then
(when asked) one erased box per image.

It runs where the batch is (on the GPU when there is one) and replaces per-sample PIL work. Every
random number comes from the run's own generator, drawn for the whole global batch, so a run is
repeatable and every rank of a data-parallel run draws the same values; that is why random
erasing is written here rather than taken from torchvision, whose ``RandomErasing`` draws from
the global generator, one image at a time.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Random mirror, rotation, scale and shift applied to training batches, and random erasing."""

    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.08
    scale_range: tuple[float, float] = (0.9, 1.1)
    erasing: float = 0.0  # chance that an image has one random box erased (Zhong et al. 2020); 0 turns it off

    @property
    def enabled(self) -> bool:
        """Whether the affine warp moves anything (erasing is separate)."""
        return self.flip or self.max_rotation_deg > 0 or self.max_shift > 0 or self.scale_range != (1.0, 1.0)


def random_affine(n: int, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor | None:
    """Affine matrices (n, 2, 3) for ``n`` images, drawn from ``generator`` (CPU) for determinism.

    None when augmentation is off. Drawn for a whole global batch, so every rank of a
    data-parallel run draws the same values and keeps its own rows.
    """
    if not cfg.enabled:
        return None

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg) * (math.pi / 180)
    scale = uniform(*cfg.scale_range)
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * cfg.max_shift * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    return torch.stack(
        [torch.stack([cos * mirror, -sin, shift[:, 0]], 1), torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1
    )


def warp(x: torch.Tensor, theta: torch.Tensor | None) -> torch.Tensor:
    """Apply one affine matrix per image to a batch (n, c, h, w) of floats, where the batch is.

    The sampling grid is built by broadcasting (what ``F.affine_grid`` computes, with
    ``align_corners=False``): on a CPU its batched matmul costs more than the sampling itself.
    """
    if theta is None:
        return x
    if _mirror_only(theta):  # flip-only augmentation: a mirror, 7x cheaper than sampling the same pixels
        mirrored = (theta[:, 0, 0] < 0).to(x.device)[:, None, None, None]
        return torch.where(mirrored, x.flip(-1), x)
    theta = theta.to(device=x.device, dtype=x.dtype)[:, :, :, None, None]  # (n, 2, 3, 1, 1)
    xs, ys = _pixel_centres(x.shape[-2], x.shape[-1], x.device, x.dtype)
    grid = (theta[:, :, 0] * xs + theta[:, :, 1] * ys + theta[:, :, 2]).permute(0, 2, 3, 1)  # (n, h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _mirror_only(theta: torch.Tensor) -> bool:
    """Whether every matrix is the identity or a left-right mirror (no rotation, scale or shift)."""
    second_row = torch.tensor([0.0, 1.0, 0.0], dtype=theta.dtype, device=theta.device)
    return bool(
        (theta[:, 0, 0].abs() == 1).all() and (theta[:, 0, 1:] == 0).all() and (theta[:, 1] == second_row).all()
    )


@functools.lru_cache(maxsize=16)
def _pixel_centres(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres in [-1, 1]: x as a (1, w) row, y as an (h, 1) column."""
    xs = (torch.arange(w, device=device, dtype=dtype) * 2 + 1) / w - 1
    ys = (torch.arange(h, device=device, dtype=dtype) * 2 + 1) / h - 1
    return xs[None, :], ys[:, None]


ERASED_AREA = (0.02, 0.33)  # of the image: torchvision's RandomErasing defaults, after Zhong et al.
ERASED_ASPECT = (0.3, 3.3)


def random_boxes(n: int, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor | None:
    """Boxes (n, 4) to erase, as fractions of the image's side: top, left, height, width; an image
    left alone gets an empty box. None when erasing is off, and then nothing is drawn, so a run
    without erasing draws the same numbers as before erasing existed."""
    if cfg.erasing <= 0:
        return None
    area = torch.rand(n, generator=generator) * (ERASED_AREA[1] - ERASED_AREA[0]) + ERASED_AREA[0]
    low, high = math.log(ERASED_ASPECT[0]), math.log(ERASED_ASPECT[1])
    aspect = torch.exp(torch.rand(n, generator=generator) * (high - low) + low)
    height, width = torch.sqrt(area * aspect).clamp(max=1.0), torch.sqrt(area / aspect).clamp(max=1.0)
    top, left = torch.rand(n, generator=generator) * (1 - height), torch.rand(n, generator=generator) * (1 - width)
    erased = (torch.rand(n, generator=generator) < cfg.erasing).float()
    return torch.stack([top, left, height * erased, width * erased], 1)


def erase(x: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
    """Fill each image's box (pixels whose centre falls inside it) with the image's mean value: a
    hole that carries no brightness cue."""
    if boxes is None:
        return x
    boxes = boxes.to(device=x.device, dtype=x.dtype)
    xs, ys = _pixel_centres(x.shape[-2], x.shape[-1], x.device, x.dtype)
    xs, ys = (xs + 1) / 2, (ys + 1) / 2  # centres in [0, 1]
    top, left, height, width = (boxes[:, i, None, None] for i in range(4))
    inside = (ys >= top) & (ys < top + height) & (xs >= left) & (xs < left + width)  # (n, h, w)
    return torch.where(inside[:, None], x.mean(dim=(1, 2, 3), keepdim=True), x)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Warp a batch (n, c, h, w) of floats with freshly drawn random affines, then erase its boxes."""
    theta = random_affine(x.shape[0], cfg, generator)
    return erase(warp(x, theta), random_boxes(x.shape[0], cfg, generator))
