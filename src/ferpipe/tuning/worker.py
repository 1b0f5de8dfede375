"""One worker of a study: draw params, train on ``data/balanced`` by the training library (no DVC run
per trial), report each epoch's validation accuracy to the pruner, and log the trial as an MLflow child
of the study's run. Any number of workers, on any machines, run this against the same study."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferpipe import tracking
from ferpipe.config import Paths
from ferpipe.data.dataset import MANIFEST, Split
from ferpipe.errors import Interrupted
from ferpipe.pipeline.training import Recipe, TrainingSettings, log_epoch
from ferpipe.schema import Dimension, Params, Tune, parse_params
from ferpipe.train.loop import fit
from ferpipe.tuning.space import current_values, suggest, tuned_space, with_values
from ferpipe.tuning.study import (
    COMMIT_ATTR,
    DATA_ATTR,
    MODEL_ATTR,
    RUN_ATTR,
    open_study,
    sampler_and_pruner,
    storage_url,
)

STUDY_KIND, TRIAL_KIND = "study", "trial"
STUDY_TAG, TRIAL_TAG, STATE_TAG = "ferpipe.tune.study", "ferpipe.tune.trial", "ferpipe.tune.state"


@dataclass(frozen=True)
class Budget:
    """When a worker stops: the study has ``trials`` finished trials (all workers together), or this
    worker has run ``minutes``; either may be left out, not both."""

    trials: int | None = None
    minutes: float | None = None

    def __post_init__(self) -> None:
        if self.trials is None and self.minutes is None:
            raise ValueError("give a budget: --trials N (the study's total) and/or --minutes M (this worker's)")
        if (self.trials is not None and self.trials < 1) or (self.minutes is not None and self.minutes <= 0):
            raise ValueError(f"a budget must be positive, got --trials {self.trials} --minutes {self.minutes}")


def run_worker(
    paths: Paths, params: Params, model: str, study_name: str, budget: Budget, echo: Callable[[str], None]
) -> Any:
    """Join (or create) ``study_name`` and run trials of ``model`` until the budget is spent; returns the study."""
    import optuna

    space = tuned_space(params, model)  # also: params has a tune section
    training = TrainingSettings.of(params)
    recipe = training.recipe(model)
    if not (paths.balanced / MANIFEST).exists():
        raise FileNotFoundError(f"{paths.balanced}: no balanced data to tune on; run `dvc repro balance` first")
    tune: Tune = params.tune
    data_hash = tracking.data_hash(paths)
    tracking.configure(training.tracking.experiment, paths.home)
    binding = {MODEL_ATTR: model, DATA_ATTR: data_hash, COMMIT_ATTR: tracking.git_commit(paths.root)}
    tags = {**tracking.run_tags(paths.root, training.tracking, data_hash), "ferpipe.model": model}

    def parent_run() -> str:
        return _study_run(study_name, {**tags, "ferpipe.kind": STUDY_KIND, STUDY_TAG: study_name}, tune)

    study, founder = open_study(study_name, storage_url(paths), binding, parent_run, tune.heartbeat_s)
    study.sampler, study.pruner = sampler_and_pruner(tune, founder)
    if founder:  # trial 0 is today's recipe: every other trial is read against it
        study.enqueue_trial(current_values(params, space), user_attrs={"baseline": True})
    done = _finished(study)
    if budget.trials is not None and done >= budget.trials:
        echo(
            f"study {study_name}: {done} trials finished already, the budget's {budget.trials}; raise --trials to go on"
        )
        return study
    joined = "created" if founder else f"joined, {done} trials finished"
    echo(f"study {study_name} ({joined}): tuning {model} over {', '.join(space)}")
    train, val = recipe.splits(paths)
    objective = _objective(params.document(), model, space, train, val, study.user_attrs[RUN_ATTR], tags, study_name)
    callbacks = [_announce(echo)]
    if budget.trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(budget.trials, states=_finished_states()))
    timeout = budget.minutes * 60 if budget.minutes is not None else None
    study.optimize(objective, timeout=timeout, callbacks=callbacks, gc_after_trial=True)
    import mlflow

    client, parent = mlflow.MlflowClient(), study.user_attrs[RUN_ATTR]
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        client.log_metric(parent, "best_val_accuracy", study.best_value)  # the study's run shows its best so far
    client.set_terminated(parent, "FINISHED")
    return study


def _study_run(name: str, tags: dict[str, str], tune: Tune) -> str:
    """The MLflow run every trial is a child of: the study's name, its space and its pruner as params."""
    import mlflow
    from mlflow.entities import Param
    from mlflow.tracking.context.registry import resolve_tags

    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name(tags["ferpipe.experiment"])
    # resolve_tags adds the user and source tags start_run would (the UI's "Created by" and "Source");
    # "study-": `dvc exp run -n tune-<study>`, the best trial's rerun, names its pipeline run
    run = client.create_run(experiment.experiment_id, tags=resolve_tags(tags), run_name=f"study-{name}")
    flat = tracking.flatten(tune.model_dump(exclude={"space"}))
    flat.update({f"space.{key}": str(dim.model_dump(exclude_defaults=True)) for key, dim in tune.space.items()})
    client.log_batch(run.info.run_id, params=[Param(key, str(value)) for key, value in flat.items()])
    return run.info.run_id


def _objective(
    document: dict[str, Any],
    model: str,
    space: dict[str, Dimension],
    train: Split,
    val: Split,
    parent: str,
    tags: dict[str, str],
    study_name: str,
) -> Callable[[Any], float]:
    """The function Optuna calls per trial: best validation accuracy of the recipe with the trial's values."""
    import mlflow
    import optuna

    def objective(trial: Any) -> float:
        values = suggest(trial, space)
        trial_params = parse_params(with_values(document, values))
        recipe = Recipe.of(model, trial_params.models[model], trial_params.train)
        net = recipe.build()
        begin = time.perf_counter()
        trial_tags = {**tags, "ferpipe.kind": TRIAL_KIND, STUDY_TAG: study_name, TRIAL_TAG: str(trial.number)}
        reached, pruned = 0, False
        run_name = f"{study_name}-trial-{trial.number}"
        with tracking.open_run(run_name=run_name, tags=trial_tags, parent_run_id=parent) as run:
            trial.set_user_attr(RUN_ATTR, run.info.run_id)
            trial.set_user_attr("n_val", len(val))  # for the interval --show puts on the score
            mlflow.log_params({**values, "trial": trial.number})

            def on_epoch(epoch: int, row: dict[str, float]) -> None:
                nonlocal reached
                reached = epoch
                log_epoch(epoch, row)
                trial.report(row["val_accuracy"], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}: val accuracy {row['val_accuracy']:.4f}")

            try:
                result = fit(net, train, val, recipe.cfg, on_epoch=on_epoch)
            except Interrupted:  # Ctrl-C or SIGTERM: the values go back in the queue for the next worker
                trial.study.enqueue_trial(values, user_attrs={"retry_of": trial.number})
                raise
            except optuna.TrialPruned:
                pruned = True
                mlflow.set_tag(STATE_TAG, "PRUNED")
            else:
                mlflow.log_metric("best_val_accuracy", result.best_val_accuracy)
                mlflow.set_tag(STATE_TAG, "COMPLETE")
        trial.set_user_attr("seconds", round(time.perf_counter() - begin, 1))
        if pruned:
            mlflow.MlflowClient().set_terminated(run.info.run_id, "KILLED")  # pruned: stopped on purpose
            raise optuna.TrialPruned(f"pruned after epoch {reached}")
        return result.best_val_accuracy

    return objective


def _finished_states() -> tuple[Any, ...]:
    """The trial states that count against the budget: completed or pruned (a failed one is retried)."""
    import optuna

    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _finished(study: Any) -> int:
    return len(study.get_trials(deepcopy=False, states=_finished_states()))


def _announce(echo: Callable[[str], None]) -> Callable[[Any, Any], None]:
    """A line per finished trial: its state, score (or where it was pruned), time and values."""

    def callback(study: Any, trial: Any) -> None:
        values = "  ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        seconds = trial.user_attrs.get("seconds", 0.0)
        if trial.state.name == "COMPLETE":
            best = study.best_trial
            outcome = f"val {trial.value:.4f} (best {best.value:.4f}, trial {best.number})"
        elif trial.state.name == "PRUNED" and trial.intermediate_values:
            last = max(trial.intermediate_values)
            outcome = f"pruned after epoch {last} (val {trial.intermediate_values[last]:.4f})"
        else:
            outcome = trial.state.name.lower()
        echo(f"trial {trial.number}: {outcome} in {seconds:.0f} s  {values}")

    return callback


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
