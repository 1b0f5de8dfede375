"""The training loop: learning, early stopping with best weights, determinism, augmentation."""

from __future__ import annotations

import numpy as np
import torch

from ferpipe.data.dataset import Split
from ferpipe.models import create_model
from ferpipe.sources.faces import RenderOptions, render_faces
from ferpipe.train.augment import AugmentConfig, augment_batch
from ferpipe.train.loop import TrainConfig, fit, predict_logits

NO_AUGMENT = AugmentConfig(flip=False, max_rotation_deg=0.0, max_shift=0.0, scale_range=(1.0, 1.0))


def _faces(seed: int, n: int, classes: tuple[int, ...] = (3, 5)) -> Split:
    """Happy against surprised faces: easy enough to learn in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(classes, n)
    return Split(render_faces(rng, labels, RenderOptions()), labels.astype(np.int64))


def _cfg(**overrides) -> TrainConfig:
    base = {"epochs": 4, "lr": 3.0e-3, "batch_size": 32, "patience": 10, "seed": 0, "augment": NO_AUGMENT}
    return TrainConfig(**{**base, **overrides})


def _small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("simple_cnn", widths=(8, 16, 16), dropout=0.0)


def test_fit_learns_and_keeps_the_best_epoch() -> None:
    train, val = _faces(0, 256), _faces(1, 128)
    model = _small_cnn()
    result = fit(model, train, val, _cfg(epochs=8), device=torch.device("cpu"))
    assert len(result.history) == 8
    accuracy = (predict_logits(model, val.images).argmax(1) == val.labels).mean()
    assert accuracy == result.best_val_accuracy  # the restored weights are the best epoch's
    assert result.best_val_accuracy > 0.75  # two classes: chance is about 0.5


def test_early_stopping_stops_after_patience() -> None:
    train, val = _faces(0, 64), _faces(1, 64)
    result = fit(_small_cnn(), train, val, _cfg(epochs=30, lr=0.0, patience=2), device=torch.device("cpu"))
    assert len(result.history) == result.best_epoch + 2 < 30


def test_training_is_deterministic_on_cpu() -> None:
    train, val = _faces(0, 96), _faces(1, 32)
    cfg = _cfg(epochs=2, augment=AugmentConfig())
    a, b = _small_cnn(), _small_cnn()
    fit(a, train, val, cfg, device=torch.device("cpu"))
    fit(b, train, val, cfg, device=torch.device("cpu"))
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)


def test_train_config_merges_defaults_and_model_overrides() -> None:
    cfg = TrainConfig.from_params(
        {"epochs": 5, "lr": 0.1, "augment": {"flip": False, "scale_range": [0.8, 1.2]}},
        {"arch": "logreg", "lr": 0.01, "augment": {"max_shift": 0.0}},
    )
    assert (cfg.epochs, cfg.lr) == (5, 0.01)
    assert cfg.augment == AugmentConfig(flip=False, max_shift=0.0, scale_range=(0.8, 1.2))


def test_augment_batch_warps_but_keeps_shape() -> None:
    x = torch.rand(8, 1, 48, 48)
    generator = torch.Generator().manual_seed(0)
    out = augment_batch(x, AugmentConfig(), generator)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert torch.equal(augment_batch(x, NO_AUGMENT, generator), x)
