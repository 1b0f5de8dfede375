"""What a study costs on top of training: one trial of today's recipe against the same recipe fitted
plainly, timed alternately in the same process on the same data (the benchmark ``ferpipe tune MODEL
--overhead`` prints). Each timed trial is today's recipe, queued, with its seed, so both sides train the
same epochs to the same weights; the difference is the worker joining the study, its database, the
pruner's reports and MLflow's runs, per-epoch metrics and system-metrics thread."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ferpipe import tables
from ferpipe.config import Paths
from ferpipe.pipeline.training import TrainingSettings
from ferpipe.schema import Params
from ferpipe.train.loop import fit
from ferpipe.tuning.space import current_values, tuned_space
from ferpipe.tuning.study import STORAGE_ENV
from ferpipe.tuning.worker import Budget, run_worker

STUDY = "overhead"
GOAL = 0.05  # the study's and tracking's share of a trial's training time, at most


def measure_overhead(paths: Paths, params: Params, model: str, repeats: int) -> str:
    """A table of ``repeats`` alternating plain fits and one-trial workers, and the median overhead.

    The stores are made first by an untimed worker (a new database's tables are made once per team,
    not per trial); each timed worker then joins the study, takes today's recipe from the queue,
    trains it and logs it, as a worker on another machine would.
    """
    space = tuned_space(params, model)  # also: params has a tune section
    trial_params = params.model_copy(update={"tune": params.tune.model_copy(update={"pruner": "none"})})  # same epochs
    recipe = TrainingSettings.of(params).recipe(model)
    recipe_values = current_values(params, space)
    rows, shares = [], []
    with _throwaway_stores():
        study = run_worker(paths, trial_params, model, STUDY, Budget(trials=1), _quiet)  # untimed
        for repeat in range(1, repeats + 1):
            plain = _seconds(lambda: fit(recipe.build(), *recipe.splits(paths), recipe.cfg))
            study.enqueue_trial(recipe_values)
            budget = Budget(trials=repeat + 1)
            trial = _seconds(lambda: run_worker(paths, trial_params, model, STUDY, budget, _quiet))  # noqa: B023
            share = trial / plain - 1.0
            shares.append(share)
            rows.append([str(repeat), f"{plain:.1f}", f"{trial:.1f}", f"{100 * share:+.1f}%"])
    median = statistics.median(shares)
    columns = [("repeat", "right"), ("plain fit s", "right"), ("one-trial worker s", "right"), ("overhead", "right")]
    table = tables.render(f"tune overhead: {model}, {recipe.cfg.total_epochs} epochs", columns, rows)
    verdict = "within" if median < GOAL else "over"
    return table + f"median overhead {100 * median:+.1f}% of the plain fit's time ({verdict} the {GOAL:.0%} goal)\n"


def _seconds(work: Callable[[], Any]) -> float:
    begin = time.perf_counter()
    work()
    return time.perf_counter() - begin


def _quiet(_line: str) -> None:
    """The trial's own lines are not the benchmark's output."""


@contextmanager
def _throwaway_stores() -> Iterator[None]:
    """A study database and an MLflow store in a temporary folder (the user's stores are left alone)."""
    saved = {key: os.environ.get(key) for key in (STORAGE_ENV, "MLFLOW_TRACKING_URI")}
    with tempfile.TemporaryDirectory(prefix="ferpipe-tune-overhead-") as tmp:
        os.environ[STORAGE_ENV] = f"sqlite:///{tmp}/optuna.db"
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
