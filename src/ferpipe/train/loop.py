"""The training loop: optimizer and schedule from params, batch augmentation, mixup/cutmix,
class weights, AMP on CUDA, a checkpoint every epoch (resumable), and early stopping that
keeps the best validation weights."""

from __future__ import annotations

import copy
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ferpipe.data.dataset import Split
from ferpipe.errors import Interrupted
from ferpipe.labels import NUM_CLASSES
from ferpipe.train.augment import AugmentConfig, random_affine, warp
from ferpipe.train.checkpoint import load_checkpoint, save_checkpoint
from ferpipe.train.distributed import World
from ferpipe.train.optim import Schedule, build_optimizer, scaled_epochs
from ferpipe.train.soft_targets import Teacher, distillation_loss

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes one training run; built from the ``train`` defaults and a model's params."""

    epochs: int = 10
    epochs_scale: float = 1.0  # multiplies epochs and step milestones: recipes stay readable, CI stays fast
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    batch_size: int = 64
    optimizer: str = "adamw"
    momentum: float = 0.9
    nesterov: bool = True
    schedule: dict[str, Any] = field(default_factory=lambda: {"name": "cosine"})
    patience: int = 5
    seed: int = 0
    label_smoothing: float = 0.0
    mixup: float = 0.0  # Beta(alpha, alpha) mixup; 0 turns it off
    cutmix: float = 0.0  # Beta(alpha, alpha) cutmix; 0 turns it off
    class_weights: str = "none"  # "none" or "balanced" (inverse class frequency)
    amp: str = "bf16"  # autocast: "bf16", "fp16" or "none" on CUDA; bf16 also on a CPU that has it (autocast_dtype)
    channels_last: bool = True  # on CUDA, and on CPU for models it does not crash (see channels_last_on)
    compile: bool = False  # torch.compile on CUDA
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_params(cls, defaults: dict[str, Any], model: dict[str, Any]) -> TrainConfig:
        """Merge shared defaults with one model's overrides; a misspelt key is an error, not ignored."""
        merged = {**defaults, **model}
        names = {f.name for f in fields(cls)} - {"augment"}
        unknown = sorted(set(merged) - names - {"augment", "arch", "args"})
        if unknown:
            raise ValueError(f"params: unknown training keys {unknown}; known: {sorted(names | {'augment'})}")
        values = {k: merged[k] for k in names if k in merged}
        augment = {**defaults.get("augment", {}), **model.get("augment", {})}
        if "scale_range" in augment:
            augment["scale_range"] = tuple(augment["scale_range"])
        return cls(**values, augment=AugmentConfig(**augment))

    @property
    def total_epochs(self) -> int:
        return scaled_epochs(self.epochs, self.epochs_scale)


@dataclass
class FitResult:
    """Per-epoch history and where the best validation accuracy was reached."""

    history: list[dict[str, float]]
    best_epoch: int
    best_val_accuracy: float


def seed_everything(seed: int) -> None:
    """Seed every generator a run touches, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def channels_last_on(device: torch.device, model: nn.Module | None = None) -> bool:
    """Whether ``model`` trains in the channels-last layout on ``device``.

    Always on CUDA. On CPU (where it makes oneDNN's convolutions about 1.4x faster) only for
    models without a strided 1x1 convolution: torch 2.14 segfaults in that layer's weight
    gradient in channels-last on an odd-sized batch (mini-Xception's skip path, on the last
    partial batch of an epoch; ``tests/test_train.py`` keeps a reproduction).
    """
    if device.type == "cuda":
        return True
    return model is not None and not any(
        isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1) for m in model.modules()
    )


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16, AMX); elsewhere bf16 is emulated, slower than fp32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype training runs in: ``amp`` on CUDA, bf16 on a CPU that has it, else none (fp32)."""
    dtype = AMP_DTYPES.get(amp)
    if device.type == "cuda":
        return dtype
    return dtype if dtype is torch.bfloat16 and device.type == "cpu" and cpu_has_bf16() else None


def to_input(images: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (n, h, w) images as float (n, 1, h, w) in [0, 1] on ``device``, channels-last on CUDA.

    On CPU the batch stays as it is: a model's channels-last weights set the layout there,
    and a model kept out of it (see channels_last_on) must not be handed channels-last input.
    """
    tensor = torch.as_tensor(images).to(device, non_blocking=True)
    batch = tensor.unsqueeze(1).float().div_(255.0)
    return batch.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else batch


def model_option(model: nn.Module, name: str, default: Any) -> Any:
    """A class-level option a model family declares (``criterion``, ``train_views``)."""
    return next((getattr(m, name) for m in model.modules() if hasattr(m, name)), default)


def penalty(model: nn.Module) -> torch.Tensor | float:
    """Extra loss terms a model declares (Keras-style L2 on a classifier)."""
    return sum((m.penalty() for m in model.modules() if hasattr(m, "penalty")), 0.0)


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, batch_size: int = 256, device: torch.device | None = None
) -> np.ndarray:
    """Logits (n, classes) for uint8 images, in evaluation mode."""
    device = device or default_device()
    model.eval().to(device)
    out = [model(to_input(images[i : i + batch_size], device)).float().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, NUM_CLASSES), dtype=np.float32)


def _evaluate(
    model: nn.Module, split: Split, batch_size: int, device: torch.device, world: World
) -> tuple[float, float]:
    """Mean loss and accuracy on ``split``; each rank scores its shard and the sums are pooled."""
    logits = torch.from_numpy(predict_logits(model, world.shard(split.images), batch_size, device))
    labels = torch.from_numpy(world.shard(split.labels))
    loss = F.cross_entropy(logits, labels, reduction="sum").item()
    loss, correct, n = world.sum(loss, (logits.argmax(1) == labels).sum().item(), len(labels))
    return loss / n, correct / n


def _class_weights(cfg: TrainConfig, labels: np.ndarray, device: torch.device) -> torch.Tensor | None:
    if cfg.class_weights == "none":
        return None
    if cfg.class_weights != "balanced":
        raise ValueError(f"params: class_weights must be 'none' or 'balanced', got {cfg.class_weights!r}")
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (NUM_CLASSES * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32, device=device)


class _Criterion:
    """The loss: cross-entropy (hard or mixed targets) or the multi-class hinge of a linear SVM."""

    def __init__(self, kind: str, cfg: TrainConfig, weights: torch.Tensor | None) -> None:
        if kind == "hinge" and (cfg.mixup or cfg.cutmix or cfg.label_smoothing):
            raise ValueError("params: mixup, cutmix and label smoothing need cross-entropy, not the hinge loss")
        self.kind, self.weights, self.smoothing = kind, weights, cfg.label_smoothing

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.kind == "hinge":
            return F.multi_margin_loss(logits, target, weight=self.weights)
        if target.dim() == 2:  # soft targets from mixup/cutmix
            log_probs = F.log_softmax(logits, dim=1)
            if self.weights is not None:
                log_probs = log_probs * self.weights
            return -(target * log_probs).sum(dim=1).mean()
        return F.cross_entropy(logits, target, weight=self.weights, label_smoothing=self.smoothing)


def _mixer(cfg: TrainConfig) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
    """timm's batch mixup/cutmix (soft targets, label smoothing folded in), or None."""
    if not (cfg.mixup or cfg.cutmix):
        return None
    from timm.data import Mixup

    return Mixup(
        mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, label_smoothing=cfg.label_smoothing, num_classes=NUM_CLASSES
    )


def _teacher_rows(teacher: Teacher | None, n_train: int, mixes_or_hinge: bool) -> torch.Tensor | None:
    """The teacher's probabilities as a tensor, after checking they fit this training run."""
    if teacher is None:
        return None
    if len(teacher.probs) != n_train:
        raise ValueError(f"the teacher scored {len(teacher.probs)} images, the training split has {n_train}")
    if mixes_or_hinge:
        raise ValueError("params: distillation takes cross-entropy, no mixup or cutmix (a mixed image has no teacher)")
    return torch.from_numpy(np.ascontiguousarray(teacher.probs, dtype=np.float32))


def _batch_starts(n: int, batch_size: int, ranks: int = 1) -> range:
    """Batch offsets over a shuffled epoch, leaving out a final batch too small to split.

    Batch norm cannot train on a single image, so every rank needs two of the last batch;
    the order is reshuffled every epoch, so the images left out differ each time.
    """
    rest = n % batch_size
    return range(0, n - rest if 0 < rest < 2 * ranks else n, batch_size)


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    cfg: TrainConfig,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    device: torch.device | None = None,
    checkpoint: Path | None = None,
    fingerprint: str = "",
    world: World | None = None,
    teacher: Teacher | None = None,
) -> FitResult:
    """Train ``model`` in place; it ends with the weights of its best validation epoch.

    With a ``teacher``, the loss mixes the labels' term with the distillation term on the
    teacher's probabilities of the same training rows.

    With ``checkpoint``, the full state is saved after every epoch and a run with the same
    ``fingerprint`` resumes from it, bit for bit as if it had never stopped (on CPU). In a
    data-parallel ``world`` each rank trains on its rows of every batch; rank 0 saves.
    """
    world = world or World()
    device = device or world.device()
    saves = checkpoint if world.is_main else None
    seed_everything(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model.to(device)
    if cfg.channels_last and channels_last_on(device, model):
        model.to(memory_format=torch.channels_last)
    trained = world.wrap(model)
    trained = torch.compile(trained) if cfg.compile and device.type == "cuda" else trained
    optimizer = build_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.nesterov)
    steps = -(-len(train) // cfg.batch_size)
    schedule = Schedule(optimizer, cfg.schedule, cfg.total_epochs, steps, cfg.epochs_scale)
    amp = autocast_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp is torch.float16)
    criterion = _Criterion(
        model_option(model, "criterion", "cross_entropy"), cfg, _class_weights(cfg, train.labels, device)
    )
    mixer = _mixer(cfg)
    views = model_option(model, "train_views", 1)
    images = torch.from_numpy(np.ascontiguousarray(train.images))
    labels = torch.from_numpy(train.labels)
    soft = _teacher_rows(teacher, len(labels), mixer is not None or criterion.kind == "hinge")

    history: list[dict[str, float]] = []
    best_state, best_epoch, best_accuracy, start = copy.deepcopy(model.state_dict()), 0, -1.0, 1
    partial: dict[str, Any] | None = None  # an epoch interrupted by a signal, to be finished first
    state = load_checkpoint(checkpoint, fingerprint) if checkpoint else None
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        _set_global_rng(state["rng"])
        history, best_state = state["history"], state["best_state"]
        best_epoch, best_accuracy, start = state["best_epoch"], state["best_accuracy"], state["epoch"] + 1
        partial = state.get("partial")
        where = f"epoch {state['epoch']}" + (f", batch {partial['next_batch']} of epoch {start}" if partial else "")
        if world.is_main:
            print(f"resuming after {where} from checkpoint {checkpoint}", flush=True)

    def snapshot(epoch_done: int, **extra: Any) -> dict[str, Any]:
        """Everything a resumed run needs to continue bit for bit."""
        return {
            "epoch": epoch_done,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "scaler": scaler.state_dict(),
            "generator": generator.get_state(),
            "rng": _global_rng(),
            "history": history,
            "best_state": best_state,
            "best_epoch": best_epoch,
            "best_accuracy": best_accuracy,
            "fingerprint": fingerprint,
            **extra,
        }

    with StopSignals() as stop:
        for epoch in range(start, cfg.total_epochs + 1):
            if epoch - best_epoch > cfg.patience and best_epoch > 0:
                break  # a resumed run that had already decided to stop
            trained.train()
            begin = time.perf_counter()
            if partial:
                order, first = partial["order"], partial["next_batch"]
                total_loss, correct, seen = partial["total_loss"], partial["correct"], partial["seen"]
                partial = None
            else:
                order, first = torch.randperm(len(labels), generator=generator), 0
                total_loss, correct, seen = 0.0, 0, 0
            starts = _batch_starts(len(order), cfg.batch_size, world.size)
            progress_bar = tqdm(
                starts[first:],
                desc=f"epoch {epoch}/{cfg.total_epochs}",
                unit="batch",
                leave=False,
                disable=None if world.is_main else True,  # None: off when not on a terminal (a log gets the epoch line)
            )
            for batch, i in enumerate(progress_bar, start=first):
                if world.any(stop.signal is not None):
                    progress = {"order": order, "next_batch": batch, "total_loss": total_loss}
                    progress.update(correct=correct, seen=seen)
                    if saves:
                        save_checkpoint(saves, snapshot(epoch - 1, partial=progress))
                    raise TrainingInterrupted(stop.signal or signal.SIGTERM, epoch, batch + 1, checkpoint)
                index = order[i : i + cfg.batch_size]
                theta = random_affine(len(index), cfg.augment, generator)  # drawn for the global batch
                mine = world.shard(torch.arange(len(index)))
                rows = index[mine]
                x = warp(to_input(images.index_select(0, rows), device), None if theta is None else theta[mine])
                y = labels.index_select(0, rows).to(device)
                target: torch.Tensor = y
                if mixer is not None and len(y) % 2 == 0:
                    x, target = mixer(x, y)
                with torch.autocast(device_type=device.type, dtype=amp or torch.float32, enabled=amp is not None):
                    logits = trained(x)
                if views > 1:  # multi-view models (ten-crop) return one row per view
                    target = target.repeat(views, *[1] * (target.dim() - 1))
                    y = y.repeat(views)
                data_loss, extra = criterion(logits, target), penalty(model)
                if teacher is not None and soft is not None:
                    taught = soft.index_select(0, rows).to(device).repeat(views, 1)
                    kd = distillation_loss(logits, taught, teacher.temperature)
                    data_loss = (1.0 - teacher.alpha) * data_loss + teacher.alpha * kd
                loss = data_loss + extra
                value = loss.item()
                if world.any(not math.isfinite(value)):
                    raise TrainingDiverged(epoch, batch + 1, value, checkpoint)
                optimizer.zero_grad(set_to_none=True)
                if world.parallel:
                    # DDP averages the ranks' gradients; weighting each rank's mean by its share of
                    # the batch makes that average the mean over the whole batch, as in one process.
                    loss = data_loss * (world.size * len(mine) / len(index)) + extra
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.after_batch()
                total_loss += value * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
            seconds = time.perf_counter() - begin
            total_loss, correct, seen = world.sum(total_loss, correct, seen)
            lr = optimizer.param_groups[0]["lr"]
            val_loss, val_accuracy = _evaluate(model, val, 4 * cfg.batch_size, device, world)
            schedule.after_epoch(val_accuracy)
            row = {
                "train_loss": total_loss / seen,
                "train_accuracy": correct / seen,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "lr": lr,
                "epoch_seconds": seconds,
                "images_per_second": len(labels) / seconds,
            }
            history.append(row)
            if world.is_main:
                print(
                    f"epoch {epoch}: train_loss {row['train_loss']:.4f} val_loss {val_loss:.4f} "
                    f"val_acc {val_accuracy:.4f} lr {lr:.2e} ({row['images_per_second']:.0f} img/s)",
                    flush=True,
                )
            if val_accuracy > best_accuracy:
                best_state, best_epoch, best_accuracy = copy.deepcopy(model.state_dict()), epoch, val_accuracy
            if saves:
                save_checkpoint(saves, snapshot(epoch))
            if on_epoch:
                on_epoch(epoch, row)
            if epoch - best_epoch >= cfg.patience:
                if world.is_main:
                    print(f"early stop: no better validation accuracy since epoch {best_epoch}", flush=True)
                break
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)  # saved, logged and served in the default layout
    return FitResult(history, best_epoch, best_accuracy)


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the last good checkpoint stays on disk."""

    def __init__(self, epoch: int, batch: int, value: float, checkpoint: Path | None) -> None:
        kept = f"the checkpoint of epoch {epoch - 1} is kept in {checkpoint}" if checkpoint else "no checkpoint"
        super().__init__(
            f"training diverged: the loss is {value} at epoch {epoch}, batch {batch}; {kept}. "
            "Lower the learning rate (or turn off fp16) and rerun."
        )


class TrainingInterrupted(Interrupted):
    """SIGINT or SIGTERM arrived: the state was checkpointed at a batch boundary; rerun to resume."""

    def __init__(self, signum: int, epoch: int, batch: int, checkpoint: Path | None) -> None:
        saved = f"checkpoint written to {checkpoint}; rerun to resume" if checkpoint else "no checkpoint path"
        super().__init__(signum, f"training stopped at epoch {epoch} before batch {batch}: {saved}")


class StopSignals:
    """Turns SIGINT and SIGTERM into a flag the training loop checks between batches.

    Only in the main thread (where Python delivers signals); the previous handlers come back
    on exit. A second signal while the first is being handled kills as usual.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
        self.signal = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _global_rng() -> dict[str, Any]:
    """Python, numpy and torch RNG states in a form ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
    }


def _set_global_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
