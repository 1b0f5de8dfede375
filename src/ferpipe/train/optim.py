"""Optimizers and learning-rate schedules named in params, as the reports used them."""

from __future__ import annotations

import math
from typing import Any

import torch

from ferpipe.choices import OPTIMIZERS, SCHEDULES


def build_optimizer(
    params: Any, name: str, lr: float, weight_decay: float, momentum: float = 0.9, nesterov: bool = True
) -> torch.optim.Optimizer:
    """Adam, AdamW, SGD (Nesterov momentum by default) or RAdam."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0, weight_decay=weight_decay
        )
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"params: unknown optimizer {name!r}; choose one of {OPTIMIZERS}")


class Schedule:
    """One learning-rate schedule, stepped per batch or per epoch as its kind requires.

    - ``step``: multiply by ``gamma`` at each epoch in ``milestones`` (the Xception recipe);
    - ``exponential``: multiply by ``rate`` every ``every_steps`` batches (Keras ExponentialDecay);
    - ``plateau``: multiply by ``factor`` after ``patience`` epochs without better validation accuracy;
    - ``cosine``: cosine annealing to zero over the run; ``onecycle``: the one-cycle policy.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        cfg: dict[str, Any],
        epochs: int,
        steps_per_epoch: int,
        epochs_scale: float = 1.0,
    ) -> None:
        name = cfg.get("name", "none")
        if name not in SCHEDULES:
            raise ValueError(f"params: unknown schedule {name!r}; choose one of {SCHEDULES}")
        self.per_batch = name in ("exponential", "onecycle")
        self.on_metric = name == "plateau"
        lr_sched = torch.optim.lr_scheduler
        self.scheduler: Any
        if name == "step":
            milestones = sorted({max(1, round(m * epochs_scale)) for m in cfg.get("milestones", [])})
            self.scheduler = lr_sched.MultiStepLR(optimizer, milestones, gamma=cfg.get("gamma", 0.1))
        elif name == "exponential":
            rate, every = cfg.get("rate", 0.98), cfg.get("every_steps", 1000)
            self.scheduler = lr_sched.LambdaLR(optimizer, lambda step: rate ** (step / every))
        elif name == "plateau":
            self.scheduler = lr_sched.ReduceLROnPlateau(
                optimizer, mode="max", factor=cfg.get("factor", 0.75), patience=cfg.get("patience", 5)
            )
        elif name == "cosine":
            self.scheduler = lr_sched.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
        elif name == "onecycle":
            max_lr = [group["lr"] for group in optimizer.param_groups]
            self.scheduler = lr_sched.OneCycleLR(
                optimizer, max_lr=max_lr, epochs=max(epochs, 1), steps_per_epoch=max(steps_per_epoch, 1)
            )
        else:
            self.scheduler = None

    def after_batch(self) -> None:
        if self.scheduler is not None and self.per_batch:
            self.scheduler.step()

    def after_epoch(self, val_accuracy: float) -> None:
        if self.scheduler is None or self.per_batch:
            return
        if self.on_metric:
            self.scheduler.step(val_accuracy)
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        if self.scheduler is None:
            return {}
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


def scaled_epochs(epochs: int, scale: float) -> int:
    """Recipe epochs times the params' ``epochs_scale`` knob, at least one."""
    return max(1, math.ceil(epochs * scale))
