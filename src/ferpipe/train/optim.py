"""Optimizers and learning-rate schedules named in params, as the reports used them."""

from __future__ import annotations

import math
from typing import Any

import torch

from ferpipe.named import Registry

OPTIMIZERS: Registry = Registry("optimizer")
SCHEDULES: Registry = Registry("schedule")
PER_BATCH = ("exponential", "onecycle")  # stepped after every batch; the others after every epoch


@OPTIMIZERS.register("adam")
def _adam(params: Any, lr: float, weight_decay: float, momentum: float, nesterov: bool) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("adamw")
def _adamw(params: Any, lr: float, weight_decay: float, momentum: float, nesterov: bool) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd")
def _sgd(params: Any, lr: float, weight_decay: float, momentum: float, nesterov: bool) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0, weight_decay=weight_decay
    )


@OPTIMIZERS.register("radam")
def _radam(params: Any, lr: float, weight_decay: float, momentum: float, nesterov: bool) -> torch.optim.Optimizer:
    return torch.optim.RAdam(params, lr=lr, weight_decay=weight_decay)


def build_optimizer(
    params: Any, name: str, lr: float, weight_decay: float, momentum: float = 0.9, nesterov: bool = True
) -> torch.optim.Optimizer:
    """Adam, AdamW, SGD (Nesterov momentum by default) or RAdam."""
    return OPTIMIZERS[name](params, lr, weight_decay, momentum, nesterov)


lr_sched = torch.optim.lr_scheduler
Optimizer = torch.optim.Optimizer


@SCHEDULES.register("none")
def _constant(optimizer: Optimizer, cfg: dict[str, Any], epochs: int, steps: int, scale: float) -> Any:
    return None


@SCHEDULES.register("step")
def _step(optimizer: Optimizer, cfg: dict[str, Any], epochs: int, steps: int, scale: float) -> Any:
    milestones = sorted({max(1, round(m * scale)) for m in cfg.get("milestones", [])})
    return lr_sched.MultiStepLR(optimizer, milestones, gamma=cfg.get("gamma", 0.1))


@SCHEDULES.register("exponential")
def _exponential(optimizer: Optimizer, cfg: dict[str, Any], epochs: int, steps: int, scale: float) -> Any:
    rate, every = cfg.get("rate", 0.98), cfg.get("every_steps", 1000)
    return lr_sched.LambdaLR(optimizer, lambda step: rate ** (step / every))


@SCHEDULES.register("plateau")
def _plateau(optimizer: Optimizer, cfg: dict[str, Any], epochs: int, steps: int, scale: float) -> Any:
    return lr_sched.ReduceLROnPlateau(
        optimizer, mode="max", factor=cfg.get("factor", 0.75), patience=cfg.get("patience", 5)
    )


@SCHEDULES.register("cosine")
def _cosine(optimizer: Optimizer, cfg: dict[str, Any], epochs: int, steps: int, scale: float) -> Any:
    return lr_sched.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))


@SCHEDULES.register("onecycle")
def _onecycle(optimizer: Optimizer, cfg: dict[str, Any], epochs: int, steps: int, scale: float) -> Any:
    max_lr = [group["lr"] for group in optimizer.param_groups]
    return lr_sched.OneCycleLR(optimizer, max_lr=max_lr, epochs=max(epochs, 1), steps_per_epoch=max(steps, 1))


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
        build = SCHEDULES[name]
        self.per_batch = name in PER_BATCH
        self.on_metric = name == "plateau"
        self.scheduler: Any = build(optimizer, cfg, epochs, steps_per_epoch, epochs_scale)

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
