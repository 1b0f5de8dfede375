"""Stopping and resuming a training run: the state a checkpoint holds, the signals that stop a
run between batches, and the seeds and generator states that make a resumed run continue bit for
bit (on CPU) as if it had never stopped."""

from __future__ import annotations

import copy
import random
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ferpipe.errors import Interrupted
from ferpipe.train.checkpoint import load_checkpoint
from ferpipe.train.optim import Schedule


def seed_everything(seed: int) -> None:
    """Seed every generator a run touches, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


class RunState:
    """How far a run has got (its history, its best weights, an epoch cut short by a signal) and
    everything that moves as it trains: what one checkpoint saves and restores."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        scaler: torch.amp.GradScaler,
        generator: torch.Generator,
        fingerprint: str,
        averaged: AveragedModel | None = None,
    ) -> None:
        self.model, self.optimizer, self.schedule, self.scaler = model, optimizer, schedule, scaler
        self.generator, self.fingerprint, self.averaged = generator, fingerprint, averaged
        self.scored = averaged.module if averaged is not None else model  # whose weights an epoch's score judges
        self.history: list[dict[str, float]] = []
        self.best_state = copy.deepcopy(self.scored.state_dict())
        self.best_epoch, self.best_accuracy, self.start = 0, -1.0, 1
        self.partial: dict[str, Any] | None = None  # an epoch interrupted by a signal, to be finished first

    def resume(self, checkpoint: Path, announce: bool) -> None:
        """Continue from ``checkpoint`` when it belongs to this run (same fingerprint)."""
        state = load_checkpoint(checkpoint, self.fingerprint)
        if not state:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        if self.averaged is not None:
            self.averaged.load_state_dict(state["averaged"])
        _set_global_rng(state["rng"])
        self.history, self.best_state = state["history"], state["best_state"]
        self.best_epoch, self.best_accuracy, self.start = (
            state["best_epoch"],
            state["best_accuracy"],
            state["epoch"] + 1,
        )
        self.partial = state.get("partial")
        if announce:
            cut = f", batch {self.partial['next_batch']} of epoch {self.start}" if self.partial else ""
            print(f"resuming after epoch {state['epoch']}{cut} from checkpoint {checkpoint}", flush=True)

    def snapshot(self, epoch_done: int, **extra: Any) -> dict[str, Any]:
        """Everything a resumed run needs to continue bit for bit."""
        return {
            "epoch": epoch_done,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "generator": self.generator.get_state(),
            "rng": _global_rng(),
            "history": self.history,
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "best_accuracy": self.best_accuracy,
            "fingerprint": self.fingerprint,
            **({"averaged": self.averaged.state_dict()} if self.averaged is not None else {}),
            **extra,
        }

    def record(self, epoch: int, row: dict[str, float]) -> None:
        """Add an epoch's row; keep its (averaged) weights when its validation accuracy is the best so far."""
        self.history.append(row)
        if row["val_accuracy"] > self.best_accuracy:
            self.best_state, self.best_epoch = copy.deepcopy(self.scored.state_dict()), epoch
            self.best_accuracy = row["val_accuracy"]


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
