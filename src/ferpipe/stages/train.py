"""The ``train@<model>`` stage: fit one model, log it to MLflow, write weights and curves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferpipe.config import Paths
from ferpipe.pipeline.training import TrainingSettings, train_model
from ferpipe.train.distributed import joined_world

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(name: str, params: Params, paths: Paths) -> None:
    """Train ``models.<name>`` on the training split of ``data/balanced``, validating on its ``val``.

    An interrupted run leaves ``data/checkpoints/<name>/``; rerunning the stage with the same
    params and data resumes there and keeps logging to the same MLflow run. Under
    ``torchrun`` the processes train data-parallel and rank 0 alone logs and writes.
    """
    with joined_world() as world:
        train_model(name, TrainingSettings.of(params), paths, world)
