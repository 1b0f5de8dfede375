"""Random erasing: boxes drawn from the run's generator, filled with the image's mean, off by default."""

from __future__ import annotations

import numpy as np
import torch

from ferpipe.data.dataset import Split
from ferpipe.models import create_model
from ferpipe.schema import Model, Training
from ferpipe.sources.faces import RenderOptions, render_faces
from ferpipe.train.augment import ERASED_AREA, AugmentConfig, augment_batch, erase, random_boxes
from ferpipe.train.config import TrainConfig
from ferpipe.train.loop import fit

QUIET = AugmentConfig(flip=False, max_rotation_deg=0.0, max_shift=0.0, scale_range=(1.0, 1.0))


def test_a_box_covers_the_pixels_whose_centres_fall_in_it_filled_with_the_image_mean() -> None:
    x = torch.arange(32, dtype=torch.float32).reshape(2, 1, 4, 4)
    boxes = torch.tensor([[0.0, 0.5, 0.5, 0.5], [0.3, 0.3, 0.0, 0.0]])  # top-right quarter; an empty box
    out = erase(x, boxes)
    assert torch.equal(out[0, 0, :2, 2:], torch.full((2, 2), 7.5))  # the first image's mean, 0..15
    assert torch.equal(out[0, 0, 2:], x[0, 0, 2:]) and torch.equal(out[0, 0, :, :2], x[0, 0, :, :2])
    assert torch.equal(out[1], x[1])  # left alone
    assert erase(x, None) is x


def test_boxes_are_seeded_inside_the_image_and_of_the_documented_size() -> None:
    cfg = AugmentConfig(erasing=1.0)
    boxes = random_boxes(4000, cfg, torch.Generator().manual_seed(0))
    assert boxes is not None
    top, left, height, width = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + height <= 1).all() and (left + width <= 1).all()
    area = height * width
    assert ERASED_AREA[0] * 0.99 < area.min() and area.max() <= ERASED_AREA[1] * 1.01
    assert torch.equal(boxes, random_boxes(4000, cfg, torch.Generator().manual_seed(0)))
    half = random_boxes(4000, AugmentConfig(erasing=0.5), torch.Generator().manual_seed(1))
    assert half is not None and 0.45 < (half[:, 2] > 0).float().mean() < 0.55  # measured 0.50


def test_erasing_off_draws_nothing_so_runs_without_it_are_unchanged() -> None:
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert random_boxes(64, QUIET, generator) is None
    assert torch.equal(generator.get_state(), state)
    x = torch.rand(8, 1, 48, 48)
    erased = augment_batch(
        x,
        AugmentConfig(flip=False, max_rotation_deg=0.0, max_shift=0.0, erasing=1.0, scale_range=(1.0, 1.0)),
        torch.Generator().manual_seed(0),
    )
    changed = (erased != x).flatten(1).float().mean(1)
    assert (changed > 0.01).all() and (changed < 0.4).all()  # every image lost one box, never most of it


def test_erasing_is_a_training_setting_merged_like_the_rest_and_a_run_with_it_repeats() -> None:
    defaults = Training.model_validate({"augment": {"flip": False, "max_rotation_deg": 0.0, "max_shift": 0.0}})
    cfg = TrainConfig.of(defaults, Model.model_validate({"arch": "simple_cnn", "augment": {"erasing": 0.5}}))
    assert cfg.augment.erasing == 0.5 and cfg.augment.flip is False
    assert TrainConfig.of(defaults).augment.erasing == 0.0

    rng = np.random.default_rng(0)
    labels = rng.choice((3, 5), 96)
    train = Split(render_faces(rng, labels, RenderOptions()), labels.astype(np.int64))
    val = Split(train.images[:32], train.labels[:32])
    run = TrainConfig(epochs=2, lr=3e-3, batch_size=32, seed=0, augment=AugmentConfig(erasing=0.5))

    def weights() -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = create_model("simple_cnn", widths=(8, 16), dropout=0.0)
        fit(model, train, val, run, device=torch.device("cpu"))
        return [p.detach().clone() for p in model.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(weights(), weights(), strict=True))
