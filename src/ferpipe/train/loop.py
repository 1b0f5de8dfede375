"""The training loop: AdamW, batch augmentation, early stopping with the best weights kept."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ferpipe.data.dataset import Split
from ferpipe.train.augment import AugmentConfig, augment_batch


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes one training run; built from the ``train`` defaults and a model's params."""

    epochs: int = 10
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    batch_size: int = 64
    patience: int = 5
    seed: int = 0
    label_smoothing: float = 0.0
    scheduler: str = "cosine"  # "cosine" (per epoch, to zero at the last epoch) or "none"
    channels_last: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_params(cls, defaults: dict[str, Any], model: dict[str, Any]) -> TrainConfig:
        """Merge shared defaults with one model's overrides; unknown keys are ignored here."""
        merged = {**defaults, **model}
        names = {f.name for f in fields(cls)} - {"augment"}
        values = {k: merged[k] for k in names if k in merged}
        augment = {**defaults.get("augment", {}), **model.get("augment", {})}
        if "scale_range" in augment:
            augment["scale_range"] = tuple(augment["scale_range"])
        return cls(**values, augment=AugmentConfig(**augment))


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


def to_input(images: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (n, h, w) images as float (n, 1, h, w) in [0, 1] on ``device``, channels-last.

    Channels-last is the faster layout for convolutions on both CPU (oneDNN) and GPU.
    """
    tensor = torch.as_tensor(images).to(device, non_blocking=True)
    return tensor.unsqueeze(1).float().div_(255.0).contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, batch_size: int = 256, device: torch.device | None = None
) -> np.ndarray:
    """Logits (n, classes) for uint8 images, in evaluation mode."""
    device = device or default_device()
    model.eval().to(device)
    out = [model(to_input(images[i : i + batch_size], device)).float().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def _evaluate(model: nn.Module, split: Split, batch_size: int, device: torch.device) -> tuple[float, float]:
    logits = torch.from_numpy(predict_logits(model, split.images, batch_size, device))
    labels = torch.from_numpy(split.labels)
    loss = F.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    return loss, accuracy


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule named in params, stepped once per epoch."""
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1))
    if cfg.scheduler == "none":
        return None
    raise ValueError(f"params: unknown scheduler {cfg.scheduler!r}; use 'cosine' or 'none'")


def fit(
    model: nn.Module,
    train: Split,
    val: Split,
    cfg: TrainConfig,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    device: torch.device | None = None,
) -> FitResult:
    """Train with AdamW and the configured schedule.

    Stops after ``patience`` epochs without a better validation accuracy.

    The model ends with the weights of its best validation epoch.
    """
    device = device or default_device()
    seed_everything(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = _scheduler(optimizer, cfg)
    images = torch.from_numpy(np.ascontiguousarray(train.images))
    labels = torch.from_numpy(train.labels)
    history: list[dict[str, float]] = []
    best_state, best_epoch, best_accuracy = copy.deepcopy(model.state_dict()), 0, -1.0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(len(labels), generator=generator)
        total_loss, correct = 0.0, 0
        batches = range(0, len(order), cfg.batch_size)
        for i in tqdm(batches, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", leave=False):
            index = order[i : i + cfg.batch_size]
            x = augment_batch(to_input(images[index], device), cfg.augment, generator)
            y = labels[index].to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(index)
            correct += (logits.argmax(1) == y).sum().item()
        seconds = time.perf_counter() - start
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        val_loss, val_accuracy = _evaluate(model, val, 4 * cfg.batch_size, device)
        row = {
            "train_loss": total_loss / len(labels),
            "train_accuracy": correct / len(labels),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "lr": lr,
            "epoch_seconds": seconds,
            "images_per_second": len(labels) / seconds,
        }
        history.append(row)
        print(
            f"epoch {epoch}: train_loss {row['train_loss']:.4f} val_loss {val_loss:.4f} "
            f"val_acc {val_accuracy:.4f} ({row['images_per_second']:.0f} img/s)",
            flush=True,
        )
        if on_epoch:
            on_epoch(epoch, row)
        if val_accuracy > best_accuracy:
            best_state, best_epoch, best_accuracy = copy.deepcopy(model.state_dict()), epoch, val_accuracy
        elif epoch - best_epoch >= cfg.patience:
            print(f"early stop: no better validation accuracy since epoch {best_epoch}", flush=True)
            break
    model.load_state_dict(best_state)
    return FitResult(history, best_epoch, best_accuracy)
