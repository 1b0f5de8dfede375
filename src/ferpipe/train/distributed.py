"""Data parallelism under ``torchrun``: one process per device, each training on its shard.

Every rank draws the same epoch order and augmentation parameters from the same seed, then
keeps its rows of each global batch (``rank::size``), so a global batch holds the same
images as in a single-process run and DDP's gradient average equals that run's gradient.
Rank 0 alone logs to MLflow and writes checkpoints and outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

Rows = TypeVar("Rows", torch.Tensor, np.ndarray)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes; a plain run is a world of one."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def device(self) -> torch.device:
        """This rank's GPU when there is one, else the CPU."""
        return torch.device("cuda", self.local_rank) if torch.cuda.is_available() else torch.device("cpu")

    def describe(self) -> str:
        """What trained, for a results table's compute budget: ``cpu``, or the GPU's name and count."""
        device = self.device()
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        return f"{name} x{self.size}" if self.parallel else name

    def shard(self, rows: Rows) -> Rows:
        """This rank's share of a batch or split: every ``size``-th row from ``rank``."""
        return rows[self.rank :: self.size]

    def sum(self, *values: float) -> list[float]:
        """Each value summed over all ranks (float64, so counts stay exact)."""
        if not self.parallel:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._reduce_device())
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one: all ranks stop at the same batch."""
        return bool(self.sum(float(flag))[0]) if self.parallel else flag

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model DDP-wrapped, or as it is in a world of one.

        Batch norm keeps per-rank statistics (DDP's default), so a model with batch norm
        trains close to, not exactly as, a single process.
        """
        if not self.parallel:
            return model
        ids = [self.local_rank] if torch.cuda.is_available() else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _reduce_device(self) -> torch.device:
        return self.device() if dist.get_backend() == "nccl" else torch.device("cpu")


@contextmanager
def joined_world() -> Iterator[World]:
    """Join the process group ``torchrun`` describes (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR).

    NCCL on GPUs, gloo on CPUs. Without torchrun this is a world of one and nothing is set up.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        yield World()
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        yield World(dist.get_rank(), dist.get_world_size(), local_rank)
    finally:
        dist.destroy_process_group()
