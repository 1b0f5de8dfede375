"""The offline augmentation the reports balance with (albumentations, per image): used by the
``augment`` balance method and by the ``augmented_copy`` source kind."""

from __future__ import annotations

from typing import Any


def augmentation_pipeline(seed: int) -> Any:
    """The offline augmentation of the reports: noise, mirror, contrast, sharpen, crop."""
    import albumentations as A

    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.GaussNoise(std_range=(0.02, 0.08), p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.3, p=0.5),
            A.Sharpen(p=0.3),
            A.RandomResizedCrop(size=(48, 48), scale=(0.8, 1.0), ratio=(0.9, 1.1), p=0.5),
        ],
        seed=seed,
    )
