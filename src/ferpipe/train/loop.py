"""The training loop: the model's own loss (cross-entropy or hinge), batch augmentation,
mixup/cutmix, class weights, a teacher's soft targets, autocast, an optional moving average of the
weights, a checkpoint every epoch (resumable) and early stopping that keeps the best validation weights."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from ferpipe.data.dataset import Split
from ferpipe.device import autocast_dtype, placed, to_input
from ferpipe.labels import NUM_CLASSES
from ferpipe.models.inference import predict_logits
from ferpipe.models.registry import model_option, penalty
from ferpipe.train.augment import erase, random_affine, random_boxes, warp
from ferpipe.train.checkpoint import save_checkpoint
from ferpipe.train.config import FitResult, TrainConfig
from ferpipe.train.distributed import World
from ferpipe.train.optim import Schedule, build_optimizer
from ferpipe.train.soft_targets import Teacher, distillation_loss
from ferpipe.train.state import RunState, StopSignals, TrainingInterrupted, seed_everything


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
    seed_everything(cfg.seed)
    trained = _placed(model, cfg, device, world)
    averaged = _weight_average(model, cfg.ema)
    scored = averaged.module if averaged is not None else model  # what validation scores and the run keeps
    optimizer = build_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.nesterov)
    schedule = Schedule(optimizer, cfg.schedule, cfg.total_epochs, -(-len(train) // cfg.batch_size), cfg.epochs_scale)
    step = _Step(model, trained, optimizer, schedule, cfg, train, device, world, teacher, checkpoint, averaged)
    generator = torch.Generator().manual_seed(cfg.seed)
    run = RunState(model, optimizer, schedule, step.scaler, generator, fingerprint, averaged)
    if checkpoint:
        run.resume(checkpoint, announce=world.is_main)
    saves = checkpoint if world.is_main else None
    with StopSignals() as stop:
        for epoch in range(run.start, cfg.total_epochs + 1):
            if run.best_epoch > 0 and epoch - run.best_epoch > cfg.patience:
                break  # a resumed run that had already decided to stop
            begin = time.perf_counter()
            train_loss, train_accuracy = _train_epoch(step, run, epoch, stop, saves)
            seconds = time.perf_counter() - begin
            lr = optimizer.param_groups[0]["lr"]
            val_loss, val_accuracy = _evaluate(scored, val, 4 * cfg.batch_size, device, world, step.amp)
            schedule.after_epoch(val_accuracy)
            row = {
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "lr": lr,
                "epoch_seconds": seconds,
                "images_per_second": len(train) / seconds,
            }
            run.record(epoch, row)
            if world.is_main:
                print(
                    f"epoch {epoch}: train_loss {train_loss:.4f} val_loss {val_loss:.4f} "
                    f"val_acc {val_accuracy:.4f} lr {lr:.2e} ({row['images_per_second']:.0f} img/s)",
                    flush=True,
                )
            if saves:
                save_checkpoint(saves, run.snapshot(epoch))
            if on_epoch:
                on_epoch(epoch, row)
            if epoch - run.best_epoch >= cfg.patience:
                if world.is_main:
                    print(f"early stop: no better validation accuracy since epoch {run.best_epoch}", flush=True)
                break
    model.load_state_dict(run.best_state)
    model.to(memory_format=torch.contiguous_format)  # saved, logged and served in the default layout
    return FitResult(run.history, run.best_epoch, run.best_accuracy)


@dataclass
class _EpochProgress:
    """An epoch's batch order and running totals; a checkpoint taken mid-epoch keeps them."""

    order: torch.Tensor
    next_batch: int = 0
    total_loss: float = 0.0
    correct: int = 0
    seen: int = 0


def _train_epoch(step: _Step, run: RunState, epoch: int, stop: StopSignals, saves: Path | None) -> tuple[float, float]:
    """One pass over the shuffled training split (or the rest of one cut short); returns its mean loss
    and accuracy. A stop signal checkpoints the state at the batch boundary and raises."""
    step.trained.train()
    progress = _EpochProgress(**run.partial) if run.partial else _EpochProgress(step.shuffled(run.generator))
    run.partial = None
    world = step.world
    starts = _batch_starts(len(progress.order), step.cfg.batch_size, world.size)
    batches = tqdm(
        starts[progress.next_batch :],
        desc=f"epoch {epoch}/{step.cfg.total_epochs}",
        unit="batch",
        leave=False,
        disable=None if world.is_main else True,  # None: off when not on a terminal (a log gets the epoch line)
    )
    for batch, i in enumerate(batches, start=progress.next_batch):
        if world.any(stop.signal is not None):
            progress.next_batch = batch
            if saves:
                save_checkpoint(saves, run.snapshot(epoch - 1, partial=asdict(progress)))
            raise TrainingInterrupted(stop.signal or signal.SIGTERM, epoch, batch + 1, step.checkpoint)
        loss, correct, seen = step(progress.order[i : i + step.cfg.batch_size], run.generator, epoch, batch + 1)
        progress.total_loss += loss * seen
        progress.correct += correct
        progress.seen += seen
    total_loss, correct, seen = world.sum(progress.total_loss, progress.correct, progress.seen)
    return total_loss / seen, correct / seen


class _Step:
    """One optimisation step on one batch of training rows: augmentation drawn for the whole
    batch, this rank's share of it, mixing, the model's loss plus a teacher's term, backward."""

    def __init__(
        self,
        model: nn.Module,
        trained: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        cfg: TrainConfig,
        train: Split,
        device: torch.device,
        world: World,
        teacher: Teacher | None,
        checkpoint: Path | None,
        averaged: AveragedModel | None = None,
    ) -> None:
        self.model, self.trained, self.optimizer, self.schedule = model, trained, optimizer, schedule
        self.averaged = averaged
        self.cfg, self.device, self.world, self.teacher, self.checkpoint = cfg, device, world, teacher, checkpoint
        self.amp = autocast_dtype(cfg.amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp is torch.float16)
        self.criterion = _Criterion(
            model_option(model, "criterion", "cross_entropy"),
            cfg,
            _class_weights(cfg, train.labels, device),
            multi_target=train.target_kind == "multi_target",
        )
        self.mixer = _mixer(cfg)
        self.views = model_option(model, "train_views", 1)
        self.images = torch.from_numpy(np.ascontiguousarray(train.images))
        self.labels = torch.from_numpy(train.labels)
        self.targets = _vote_targets(train, self.criterion.kind, self.mixer is not None)
        self.soft = _teacher_rows(teacher, len(self.labels), self.mixer is not None or self.criterion.kind == "hinge")

    def shuffled(self, generator: torch.Generator) -> torch.Tensor:
        """A fresh batch order over the training rows."""
        return torch.randperm(len(self.labels), generator=generator)

    def __call__(
        self, index: torch.Tensor, generator: torch.Generator, epoch: int, batch: int
    ) -> tuple[float, int, int]:
        """Train on the rows ``index``; returns the batch's mean loss, correct predictions and count."""
        theta = random_affine(len(index), self.cfg.augment, generator)  # drawn for the global batch
        boxes = random_boxes(len(index), self.cfg.augment, generator)
        mine = self.world.shard(torch.arange(len(index)))
        rows = index[mine]
        x = warp(to_input(self.images.index_select(0, rows), self.device), None if theta is None else theta[mine])
        x = erase(x, None if boxes is None else boxes[mine])
        y = self.labels.index_select(0, rows).to(self.device)
        target = y if self.targets is None else self.targets.index_select(0, rows).to(self.device)
        if self.mixer is not None and len(y) % 2 == 0:
            x, target = self.mixer(x, y)
        with torch.autocast(
            device_type=self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None
        ):
            logits = self.trained(x)
        if self.views > 1:  # multi-view models (ten-crop) return one row per view
            target = target.repeat(self.views, *[1] * (target.dim() - 1))
            y = y.repeat(self.views)
        data_loss, extra = self.criterion(logits, target), penalty(self.model)
        if self.teacher is not None and self.soft is not None:
            taught = self.soft.index_select(0, rows).to(self.device).repeat(self.views, 1)
            kd = distillation_loss(logits, taught, self.teacher.temperature)
            data_loss = (1.0 - self.teacher.alpha) * data_loss + self.teacher.alpha * kd
        loss = data_loss + extra
        value = loss.item()
        if self.world.any(not math.isfinite(value)):
            raise TrainingDiverged(epoch, batch, value, self.checkpoint)
        self.optimizer.zero_grad(set_to_none=True)
        if self.world.parallel:
            # DDP averages the ranks' gradients; weighting each rank's mean by its share of
            # the batch makes that average the mean over the whole batch, as in one process.
            loss = data_loss * (self.world.size * len(mine) / len(index)) + extra
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.after_batch()
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)
        return value, int((logits.argmax(1) == y).sum().item()), len(y)


def _weight_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights and batch-norm statistics (torch's
    ``AveragedModel``; updated after every step), or None when ``decay`` is 0. Validation scores
    the average, so the best epoch kept is the average's: the weights late in a run that still
    moves, smoothed over about ``1 / (1 - decay)`` steps."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _placed(model: nn.Module, cfg: TrainConfig, device: torch.device, world: World) -> nn.Module:
    """``model`` on ``device`` in its training layout; what the steps call (DDP-wrapped, compiled on CUDA)."""
    trained = world.wrap(placed(model, device, cfg.channels_last))
    return torch.compile(trained) if cfg.compile and device.type == "cuda" else trained


def _evaluate(
    model: nn.Module, split: Split, batch_size: int, device: torch.device, world: World, amp: torch.dtype | None
) -> tuple[float, float]:
    """Mean loss and accuracy on ``split`` under the training's autocast (half the cost of fp32 on a
    bf16 CPU); each rank scores its shard and the sums are pooled."""
    logits = torch.from_numpy(predict_logits(model, world.shard(split.images), batch_size, device, amp))
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
    """The loss: cross-entropy (hard, mixed or FER+'s soft targets), FER+'s multi-target loss, or
    the multi-class hinge of a linear SVM."""

    def __init__(self, kind: str, cfg: TrainConfig, weights: torch.Tensor | None, multi_target: bool = False) -> None:
        if kind == "hinge" and (cfg.mixup or cfg.cutmix or cfg.label_smoothing):
            raise ValueError("params: mixup, cutmix and label smoothing need cross-entropy, not the hinge loss")
        self.kind, self.weights, self.smoothing, self.multi_target = kind, weights, cfg.label_smoothing, multi_target

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.kind == "hinge":
            return F.multi_margin_loss(logits, target, weight=self.weights)
        if target.dim() == 2 and self.multi_target:  # the best accepted emotion's probability (FER+'s reference)
            accepted = F.log_softmax(logits, dim=1).masked_fill(target <= 0, float("-inf"))
            return -accepted.amax(dim=1).mean()
        if target.dim() == 2:  # soft targets: mixup/cutmix's, or FER+'s votes (which need no label smoothing)
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


def _vote_targets(train: Split, criterion: str, mixes: bool) -> torch.Tensor | None:
    """FER+'s soft or multi-target training targets, where the split has them; the hinge loss
    (hog_svm) takes the labels instead, and mixup/cutmix, which mix hard labels, are refused."""
    if train.targets is None or criterion == "hinge":
        return None
    if mixes:
        kind = train.target_kind
        raise ValueError(f"params: mixup and cutmix mix hard labels; FER+'s {kind} targets train without them")
    return torch.from_numpy(np.ascontiguousarray(train.targets, dtype=np.float32))


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


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the last good checkpoint stays on disk."""

    def __init__(self, epoch: int, batch: int, value: float, checkpoint: Path | None) -> None:
        kept = f"the checkpoint of epoch {epoch - 1} is kept in {checkpoint}" if checkpoint else "no checkpoint"
        super().__init__(
            f"training diverged: the loss is {value} at epoch {epoch}, batch {batch}; {kept}. "
            "Lower the learning rate (or turn off fp16) and rerun."
        )
