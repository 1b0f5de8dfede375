"""Where a study lives and what it is bound to.

A study is a row in a database: ``optuna.db`` beside ``mlflow.db`` by default, or the database
``FERPIPE_OPTUNA_STORAGE`` names (the team's PostgreSQL), so every worker that opens the same name
joins the same study. The worker that creates it records the model, the data hash, the commit and
the MLflow run that parents every trial; a worker on other data or another model is refused.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferpipe.config import Paths
from ferpipe.schema import Tune
from ferpipe.tracking.server import redact

STORAGE_ENV = "FERPIPE_OPTUNA_STORAGE"
STORAGE_FILE = "optuna.db"
MODEL_ATTR, DATA_ATTR, COMMIT_ATTR, RUN_ATTR = "model", "data_hash", "git_commit", "mlflow_run_id"
FOUNDING_WAIT_S = 60.0  # how long a joining worker waits for the founder to record the study's binding


STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # it names a folder (reports/tune/<study>) and a DVC experiment


def checked_name(name: str) -> str:
    """A study's name, refused when it could not be a folder's or an experiment's name."""
    if not STUDY_NAME.match(name):
        raise ValueError(f"study name {name!r}: use letters, digits, _ and - (it names reports/tune/<study>)")
    return name


def storage_url(paths: Paths) -> str:
    """``FERPIPE_OPTUNA_STORAGE`` when set, else a sqlite file beside ``mlflow.db`` (never a DVC temp copy)."""
    return os.environ.get(STORAGE_ENV) or f"sqlite:///{Path(paths.home).resolve() / STORAGE_FILE}"


def storage(url: str, heartbeat_s: int = 30) -> Any:
    """The study database with a heartbeat: a trial whose worker stopped beating for twice ``heartbeat_s``
    is failed by the next worker to start a trial, and a copy of it is queued (Optuna's retry callback)."""
    import optuna
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # ferpipe prints a line per trial, and errors once
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat: experimental since Optuna 2.8
        try:
            return RDBStorage(
                _with_driver(url),
                engine_kwargs=engine,
                heartbeat_interval=heartbeat_s,
                grace_period=2 * heartbeat_s,
                heartbeat_stale_trial_callback=_retry_and_close_run(RetryHeartbeatStaleTrialCallback(max_retry=2)),
            )
        except SQLAlchemyError as exc:  # a URL that does not parse, a server that does not answer
            first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            source = f" (set by {STORAGE_ENV})" if os.environ.get(STORAGE_ENV) else ""
            raise ValueError(f"the study store {redact(url)} failed: {first}{source}") from None


def _with_driver(url: str) -> str:
    """``postgresql://`` as SQLAlchemy's psycopg 3 URL (the driver ferpipe installs; SQLAlchemy's default
    for a bare ``postgresql://`` is psycopg2); any other URL as it is."""
    return "postgresql+psycopg://" + url.removeprefix("postgresql://") if url.startswith("postgresql://") else url


def _retry_and_close_run(retry: Any) -> Any:
    """Queue the dead worker's trial again, and mark its MLflow run failed (it would show running forever)."""

    def callback(study: Any, trial: Any) -> None:
        retry(study, trial)
        run_id = trial.user_attrs.get(RUN_ATTR)
        if run_id:
            import mlflow

            mlflow.MlflowClient().set_terminated(run_id, "FAILED")

    return callback


def sampler_and_pruner(tune: Tune, founder: bool) -> tuple[Any, Any]:
    """TPE after ``startup_trials`` random ones, and the pruner ``tune.pruner`` names (never before
    ``warmup_epochs``). The study's founder samples from ``tune.seed`` (one worker alone is repeatable);
    a joining worker adds its process id, so two workers do not draw the same points."""
    import optuna

    seed = tune.seed + (0 if founder else os.getpid())
    sampler = optuna.samplers.TPESampler(n_startup_trials=tune.startup_trials, seed=seed)
    if tune.pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=tune.startup_trials, n_warmup_steps=tune.warmup_epochs)
    elif tune.pruner == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=max(1, tune.warmup_epochs))
    else:
        pruner = optuna.pruners.NopPruner()
    return sampler, pruner


def open_study(
    name: str,
    url: str,
    binding: dict[str, str],
    parent_run: Callable[[], str],
    heartbeat_s: int,
) -> tuple[Any, bool]:
    """Create the study ``name`` and record its ``binding`` (model, data hash, commit) and the MLflow run
    ``parent_run`` opens, or join it, refusing when its model or data hash differs from this worker's.
    Also says whether this worker created it."""
    import optuna
    from optuna.exceptions import DuplicatedStudyError

    store = storage(url, heartbeat_s)
    try:
        study = optuna.create_study(study_name=checked_name(name), storage=store, direction="maximize")
    except DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=store)
        check_binding(study, binding)
        return study, False
    for key, value in {**binding, RUN_ATTR: parent_run()}.items():
        study.set_user_attr(key, value)
    return study, True


def check_binding(study: Any, binding: dict[str, str]) -> None:
    """Refuse to add trials to a study bound to another model or other data (waiting for a founder that
    is still recording the binding)."""
    deadline = time.monotonic() + FOUNDING_WAIT_S
    while RUN_ATTR not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.5)
    recorded = study.user_attrs
    if RUN_ATTR not in recorded:
        raise ValueError(
            f"study {study.study_name!r} has no recorded model and data (the worker that created it stopped "
            "first): delete it (`optuna delete-study`) or name a new one with --study"
        )
    for key, what in ((MODEL_ATTR, "model"), (DATA_ATTR, "data hash")):
        if recorded.get(key) != binding[key]:
            raise ValueError(
                f"study {study.study_name!r} was started on {what} {recorded.get(key)!r} "
                f"(commit {recorded.get(COMMIT_ATTR, 'unknown')[:12]}); this workspace has {binding[key]!r}: "
                "its trials would not be comparable (name a new study with --study)"
            )


def list_studies(url: str) -> list[str]:
    """The names of every study in the database (``ferpipe tune --show`` with no model)."""
    import optuna

    return [s.study_name for s in optuna.get_all_study_summaries(storage(url))]


def load_existing(url: str, name: str | None) -> Any:
    """The study ``name`` (or the database's only study), or an error listing the studies there are."""
    import optuna

    names = list_studies(url)
    if name is None and len(names) == 1:
        name = names[0]
    if name is None or checked_name(name) not in names:
        have = ", ".join(names) or "none yet"
        raise ValueError(f"{redact(url)}: no study {name!r} (studies: {have}); name one with --study")
    return optuna.load_study(study_name=name, storage=storage(url))
