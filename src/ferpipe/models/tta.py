"""Test-time augmentation: one wrapper that every inference path (evaluate, the ensemble's
classifier, predict, the served model, ONNX) puts around a trained model, so all of them see the
same views. The wrappers average logits, as vgg_fer's ten-crop does over its crops."""

from __future__ import annotations

import torch
from torch import nn

from ferpipe.choices import TTA_MODES
from ferpipe.models.crops import CentreCrop, TenCropAverage


class FlipAverage(nn.Module):
    """The mean of a model's logits on an image and on its left-right mirror."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + self.model(x.flip(-1))) / 2


def with_tta(model: nn.Module, tta: str) -> nn.Module:
    """``model`` with the views ``tta`` names, in evaluation mode.

    ``none``: the image alone. ``flip``: the image and its mirror. ``ten_crop``: a model trained
    on crops (``CentreCrop``) is scored on its ten crops; a model trained on whole faces has no
    crops to take and gets its mirror, as with ``flip``. A model whose own test views already
    include mirrors (vgg_fer's ten crops) is left as it is.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose one of {', '.join(TTA_MODES)}")
    if tta == "none" or any(getattr(m, "mirrored_views", False) for m in model.modules()):
        return model.eval()
    crop = next((m.crop for m in model.modules() if isinstance(m, CentreCrop)), None)
    return (TenCropAverage(model, crop) if tta == "ten_crop" and crop else FlipAverage(model)).eval()
