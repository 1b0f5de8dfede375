"""The training loop: learning, early stopping with best weights, determinism, augmentation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ferpipe.data.dataset import Split
from ferpipe.device import autocast_dtype
from ferpipe.models import create_model
from ferpipe.models.inference import predict_logits
from ferpipe.sources.faces import RenderOptions, render_faces
from ferpipe.train.augment import AugmentConfig, augment_batch
from ferpipe.train.config import TrainConfig
from ferpipe.train.loop import fit
from ferpipe.train.optim import OPTIMIZERS, Schedule, build_optimizer, scaled_epochs

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
    cfg = _cfg(epochs=8)
    result = fit(model, train, val, cfg, device=torch.device("cpu"))
    assert len(result.history) == 8
    in_training_precision = autocast_dtype(cfg.amp, torch.device("cpu"))  # what the validation pass runs in
    accuracy = (predict_logits(model, val.images, autocast=in_training_precision).argmax(1) == val.labels).mean()
    assert accuracy == result.best_val_accuracy  # the restored weights are the best epoch's
    assert result.best_val_accuracy > 0.75  # two classes: chance is about 0.5


def test_a_weight_average_is_what_validation_scores_and_the_run_keeps() -> None:
    """With ``ema``, every epoch is scored on the moving average of the weights, and the weights kept
    are the average's at the best epoch. The two runs take the same steps; a slow average (0.999 over
    32 steps, begun at the weights after the first) ends far nearer the start than the raw weights."""
    train, val = _faces(0, 256), _faces(1, 128)
    start = dict(_small_cnn().named_parameters())
    raw, smoothed = _small_cnn(), _small_cnn()
    fit(raw, train, val, _cfg(epochs=4), device=torch.device("cpu"))
    cfg = _cfg(epochs=4, ema=0.999)
    result = fit(smoothed, train, val, cfg, device=torch.device("cpu"))

    def moved(model: torch.nn.Module) -> float:
        return sum(float((p - start[k]).abs().sum()) for k, p in model.named_parameters())  # weights, not BN stats

    assert moved(smoothed) < 0.5 * moved(raw)  # measured: 0.35
    in_training_precision = autocast_dtype(cfg.amp, torch.device("cpu"))
    accuracy = (predict_logits(smoothed, val.images, autocast=in_training_precision).argmax(1) == val.labels).mean()
    assert accuracy == result.best_val_accuracy


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
    from ferpipe.schema import Model, Training

    augment = {"flip": False, "scale_range": [0.8, 1.2]}
    step = {"name": "step", "milestones": [3]}
    defaults = Training.model_validate({"epochs": 5, "lr": 0.1, "schedule": step, "augment": augment})
    own = {"arch": "logreg", "lr": 0.01, "schedule": {"name": "none"}, "augment": {"max_shift": 0.0}}
    model = Model.model_validate(own)
    cfg = TrainConfig.of(defaults, model)
    assert (cfg.epochs, cfg.lr) == (5, 0.01)  # unset on the model: the default's; set: the model's
    assert cfg.schedule == {"name": "none"}  # a model's schedule replaces the default one whole, as written
    assert cfg.augment == AugmentConfig(flip=False, max_shift=0.0, scale_range=(0.8, 1.2))  # merged key by key
    assert TrainConfig.of(Training()) == TrainConfig()  # nothing set: the training code's own defaults


def test_augment_batch_warps_but_keeps_shape() -> None:
    x = torch.rand(8, 1, 48, 48)
    generator = torch.Generator().manual_seed(0)
    out = augment_batch(x, AugmentConfig(), generator)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert torch.equal(augment_batch(x, NO_AUGMENT, generator), x)


class Interrupted(Exception):
    """Stands in for a kill between epochs."""


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_interrupted_training_resumes_from_the_last_checkpoint(tmp_path, capsys, ema: float) -> None:
    train, val = _faces(0, 96), _faces(1, 32)
    schedule = {"name": "step", "milestones": [2], "gamma": 0.5}
    cfg = _cfg(epochs=4, augment=AugmentConfig(), schedule=schedule, ema=ema)
    whole = _small_cnn()
    expected = fit(whole, train, val, cfg, device=torch.device("cpu"))

    def stop_after_two(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise Interrupted

    checkpoint = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        fit(
            _small_cnn(),
            train,
            val,
            cfg,
            on_epoch=stop_after_two,
            device=torch.device("cpu"),
            checkpoint=checkpoint,
            fingerprint="run-a",
        )
    epochs_seen = []
    resumed = _small_cnn()
    result = fit(
        resumed,
        train,
        val,
        cfg,
        on_epoch=lambda e, r: epochs_seen.append(e),
        device=torch.device("cpu"),
        checkpoint=checkpoint,
        fingerprint="run-a",
    )
    assert "resuming after epoch 2" in capsys.readouterr().out
    assert epochs_seen == [3, 4]  # epochs 1-2 were not trained again
    assert [r["val_loss"] for r in result.history] == [r["val_loss"] for r in expected.history]
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_of_other_params_is_ignored(tmp_path, capsys) -> None:
    train, val = _faces(0, 32), _faces(1, 16)
    checkpoint = tmp_path / "last.pt"
    fit(_small_cnn(), train, val, _cfg(epochs=1), device=torch.device("cpu"), checkpoint=checkpoint, fingerprint="old")
    epochs_seen = []
    fit(
        _small_cnn(),
        train,
        val,
        _cfg(epochs=1),
        on_epoch=lambda e, r: epochs_seen.append(e),
        device=torch.device("cpu"),
        checkpoint=checkpoint,
        fingerprint="new",
    )
    assert "ignoring checkpoint" in capsys.readouterr().out and epochs_seen == [1]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(optimizer: str) -> None:
    result = fit(
        _small_cnn(), _faces(0, 64), _faces(1, 16), _cfg(epochs=1, optimizer=optimizer), device=torch.device("cpu")
    )
    assert np.isfinite(result.history[0]["train_loss"])


def test_sgd_is_nesterov_by_default() -> None:
    sgd = build_optimizer(torch.nn.Linear(2, 2).parameters(), "sgd", 0.01, 1.0e-4)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9
    with pytest.raises(ValueError, match="'lamb'"):
        build_optimizer(torch.nn.Linear(2, 2).parameters(), "lamb", 0.01, 0.0)


def _lrs(cfg: dict, epochs: int, steps: int, metric: list[float] | None = None, scale: float = 1.0) -> list[float]:
    """The lr at the start of each epoch under a schedule."""
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    schedule = Schedule(optimizer, cfg, epochs, steps, scale)
    seen = []
    for epoch in range(epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps):
            optimizer.step()
            schedule.after_batch()
        schedule.after_epoch(metric[epoch] if metric else 0.0)
    return seen


def test_schedules_follow_the_recipes() -> None:
    # Xception: 1e-3 for 100 epochs, then 1e-4, then 1e-5; scaled to 10% of the epochs
    step = _lrs({"name": "step", "milestones": [100, 130], "gamma": 0.1}, 15, 1, scale=0.1)
    assert step[9] == 1.0 and step[10] == pytest.approx(0.1) and step[13] == pytest.approx(0.01)
    # Keras ExponentialDecay: x0.98 every 1000 steps
    assert _lrs({"name": "exponential", "rate": 0.98, "every_steps": 1000}, 3, 500)[2] == pytest.approx(0.98)
    plateau = _lrs({"name": "plateau", "factor": 0.75, "patience": 1}, 5, 1, metric=[0.5, 0.5, 0.5, 0.5, 0.5])
    assert plateau[0] == 1.0 and plateau[-1] < 1.0
    cosine = _lrs({"name": "cosine"}, 4, 1)
    assert cosine[0] == 1.0 and cosine[1] > cosine[2] > cosine[3]
    onecycle = _lrs({"name": "onecycle"}, 4, 10)
    assert onecycle[0] < max(onecycle)
    with pytest.raises(ValueError, match="'warmup'"):
        _lrs({"name": "warmup"}, 1, 1)


def test_scaled_epochs_keep_at_least_one() -> None:
    assert scaled_epochs(300, 0.01) == 3 and scaled_epochs(50, 0.001) == 1 and scaled_epochs(12, 1.0) == 12


def test_mixup_cutmix_label_smoothing_and_class_weights_train() -> None:
    cfg = _cfg(epochs=1, mixup=0.2, cutmix=1.0, label_smoothing=0.1, class_weights="balanced")
    result = fit(_small_cnn(), _faces(0, 64), _faces(1, 16), cfg, device=torch.device("cpu"))
    assert np.isfinite(result.history[0]["train_loss"])


def test_hinge_models_refuse_mixup() -> None:
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="hinge"):
        fit(
            create_model("hog_svm"), _faces(0, 32), _faces(1, 16), _cfg(epochs=1, mixup=0.2), device=torch.device("cpu")
        )


def test_hog_svm_trains_with_its_hinge_loss() -> None:
    torch.manual_seed(0)
    result = fit(
        create_model("hog_svm"), _faces(0, 128), _faces(1, 64), _cfg(epochs=3, lr=1.0e-2), device=torch.device("cpu")
    )
    assert result.best_val_accuracy > 0.7  # happy against surprised, from HOG alone


def test_a_lone_last_image_does_not_break_batch_norm() -> None:
    torch.manual_seed(0)
    train = _faces(0, 33)  # 32 + 1: the last batch would hold one image
    result = fit(
        create_model("hog_svm"), train, _faces(1, 8), _cfg(epochs=1, batch_size=32), device=torch.device("cpu")
    )
    assert np.isfinite(result.history[0]["train_loss"])


ODD_LAST_BATCH = """
import numpy as np, torch
from ferpipe.data.dataset import Split
from ferpipe.models import create_model
from ferpipe.train.config import TrainConfig
from ferpipe.train.loop import fit
rng = np.random.default_rng(0)
split = lambda n: Split(rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n))
config = TrainConfig(epochs=1, batch_size=32)
fit(create_model("mini_xception"), split(55), split(8), config, device=torch.device("cpu"))
"""


def test_an_odd_last_batch_trains_mini_xception_on_cpu() -> None:
    """The real FER2013 run's crash: channels-last on CPU segfaulted on an odd batch (here 55 = 32 + 23).

    Run in a child process so that a segfault fails this test instead of killing the session.
    """
    done = subprocess.run([sys.executable, "-c", ODD_LAST_BATCH], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_equal_weights_save_to_equal_bytes(tmp_path) -> None:
    """DVC hashes model.pt: two runs with the same weights must write the same file."""
    from ferpipe.models.saved import save_model

    torch.manual_seed(0)
    model = create_model("logreg")
    save_model(tmp_path / "a" / "model.pt", model, "logreg", {})
    save_model(tmp_path / "b" / "model.pt", model, "logreg", {})
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_a_flip_only_augmentation_mirrors_exactly_what_the_sampler_would() -> None:
    from ferpipe.train.augment import random_affine, warp

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 48, 48)
    theta = random_affine(
        16, AugmentConfig(flip=True, max_rotation_deg=0.0, max_shift=0.0, scale_range=(1.0, 1.0)), generator
    )
    fast = warp(x, theta)
    sampled = warp(x, theta + torch.tensor([[0.0, 0.0, 1e-9], [0.0, 0.0, 0.0]]))  # not exactly a mirror: sampled
    mirrored = theta[:, 0, 0] < 0
    assert 0 < mirrored.sum() < 16
    assert torch.equal(fast[mirrored], x[mirrored].flip(-1)) and torch.equal(fast[~mirrored], x[~mirrored])
    assert torch.allclose(fast, sampled, atol=1e-5)


def test_fer_plus_soft_targets_are_what_the_loss_learns() -> None:
    """Soft targets: cross-entropy on the votes; multi-target: the best accepted emotion's log-probability."""
    from ferpipe.train.loop import _Criterion

    logits = torch.tensor([[2.0, 0.0, 1.0, 0, 0, 0, 0], [0.0, 3.0, 0, 0, 0, 0, 0.5]])
    votes = torch.tensor([[0.5, 0, 0.5, 0, 0, 0, 0], [0, 0.5, 0, 0, 0, 0, 0.5]])
    log_probs = torch.log_softmax(logits, 1)
    soft = _Criterion("cross_entropy", _cfg(label_smoothing=0.1), None)(logits, votes)
    assert torch.isclose(soft, -(votes * log_probs).sum(1).mean())  # the votes are the smoothing: none added
    multi = _Criterion("cross_entropy", _cfg(), None, multi_target=True)(logits, votes)
    assert torch.isclose(multi, -(log_probs[0, 0] + log_probs[1, 1]) / 2)


@pytest.mark.parametrize("kind", ["soft", "multi_target"])
def test_fit_trains_on_vote_targets_and_refuses_mixup(kind: str) -> None:
    train, val = _faces(0, 256), _faces(1, 128)
    votes = np.eye(7, dtype=np.float32)[train.labels]
    if kind == "soft":  # a fifth of every face's votes on neutral: the label still wins
        votes = votes * 0.8 + np.eye(7, dtype=np.float32)[6] * 0.2
    voted = Split(train.images, train.labels, votes, kind)
    result = fit(_small_cnn(), voted, val, _cfg(epochs=8), device=torch.device("cpu"))
    assert result.best_val_accuracy > 0.75  # as on the labels (test_fit_learns_and_keeps_the_best_epoch)
    with pytest.raises(ValueError, match=f"mixup and cutmix mix hard labels; FER\\+'s {kind} targets"):
        fit(_small_cnn(), voted, val, _cfg(epochs=1, mixup=0.2), device=torch.device("cpu"))
    fit(create_model("hog_svm"), voted, val, _cfg(epochs=1), device=torch.device("cpu"))  # the hinge takes the labels
