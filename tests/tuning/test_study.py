"""`ferpipe tune` on a tiny learnable project: pruning, the study's binding to its data, the rerun command
and the plots; then two worker processes sharing one study on PostgreSQL, one of them killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.config import Paths, load_params
from ferpipe.data.dataset import IMAGES, save_prepared
from ferpipe.tuning.study import RUN_ATTR, load_existing, storage_url
from ferpipe.tuning.worker import Budget, run_worker
from tests.conftest import write_params
from tests.services import Unavailable, postgres

SPACE = {"models.lin.lr": {"low": 1.0e-7, "high": 3.0e-2, "log": True}}
GOOD_LR, BAD_LR = 2.0e-2, 1.0e-7  # the bad one barely moves the weights: a trial to prune


def _learnable(rows_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces whose class is a bright band at its own height: a linear model learns them in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(7), rows_per_class)
    images = rng.integers(0, 90, (len(labels), 48, 48)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 6 * label : 6 * label + 6, :] = 220
    return images, labels


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    train, train_labels = _learnable(20, 0)
    val, val_labels = _learnable(8, 1)
    split = ["train"] * len(train_labels) + ["val"] * len(val_labels)
    manifest = pd.DataFrame({"split": split, "label": np.concatenate([train_labels, val_labels])})
    save_prepared(tmp_path / "data" / "balanced", np.concatenate([train, val]), manifest)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    models = {"lin": {"arch": "logreg", "epochs": 6, "lr": GOOD_LR}}
    tune = {"space": SPACE, "pruner": "median", "warmup_epochs": 1, "startup_trials": 1, "heartbeat_s": 1}
    write_params(
        tmp_path,
        train={"batch_size": 32, "patience": 10, "augment": {"flip": False}},
        models=models,
        ensemble={"members": ["lin"]},
        distill={},
        tune=tune,
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("FERPIPE_OPTUNA_STORAGE", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    return tmp_path


def _worker(root: Path, trials: int, study: str = "lin") -> Any:
    return run_worker(Paths(root), load_params(root / "params.yaml"), "lin", study, Budget(trials=trials), print)


def test_trial_0_is_todays_recipe_and_a_hopeless_trial_is_pruned_early(project: Path) -> None:
    import mlflow

    first = _worker(project, 1)
    baseline = first.trials[0]
    assert baseline.params == {"models.lin.lr": GOOD_LR} and baseline.user_attrs["baseline"] is True
    assert baseline.state.name == "COMPLETE" and baseline.value > 0.5  # the data are learnable
    first.enqueue_trial({"models.lin.lr": BAD_LR})
    study = _worker(project, 2)  # joins the study and takes the queued trial first
    bad = study.trials[1]
    assert bad.params == {"models.lin.lr": BAD_LR}
    assert bad.state.name == "PRUNED" and len(bad.intermediate_values) < 6
    run = mlflow.get_run(bad.user_attrs[RUN_ATTR])
    assert run.info.status == "KILLED" and run.data.tags["ferpipe.tune.state"] == "PRUNED"
    assert run.data.tags["mlflow.parentRunId"] == study.user_attrs[RUN_ATTR]
    assert mlflow.get_run(baseline.user_attrs[RUN_ATTR]).data.metrics["best_val_accuracy"] == baseline.value


def test_a_study_on_other_data_is_refused_naming_both_hashes(project: Path) -> None:
    from ferpipe import tracking

    _worker(project, 1)
    before = tracking.data_hash(Paths(project))
    images = np.load(project / "data" / "balanced" / IMAGES)
    np.save(project / "data" / "balanced" / IMAGES, 255 - images)
    after = tracking.data_hash(Paths(project))
    with pytest.raises(ValueError, match=f"started on data hash '{before}'.*has '{after}'"):
        _worker(project, 2)
    assert len(load_existing(storage_url(Paths(project)), "lin").trials) == 1  # nothing was added


def test_show_best_and_a_spent_budget_as_a_user_sees_them(project: Path) -> None:
    _worker(project, 3)
    runner = CliRunner()
    spent = runner.invoke(app, ["tune", "lin", "--trials", "3"])
    assert spent.exit_code == 0 and "3 trials finished already" in spent.output
    shown = runner.invoke(app, ["tune", "--show"])  # the database's only study
    assert shown.exit_code == 0, shown.output
    assert "study lin: 3 trials" in shown.output and "lin.lr" in shown.output
    assert (project / "reports" / "tune" / "lin" / "history.png").stat().st_size > 1000
    best = runner.invoke(app, ["tune", "--best", "--study", "lin"])
    study = load_existing(storage_url(Paths(project)), "lin")
    command = f"dvc exp run -n tune-lin -S models.lin.lr={study.best_params['models.lin.lr']!r}"
    assert best.exit_code == 0 and command in best.output
    missing = runner.invoke(app, ["tune", "--show", "--study", "nope"])
    assert missing.exit_code == 1 and "no study 'nope' (studies: lin)" in missing.output
    escaping = runner.invoke(app, ["tune", "--show", "--study", "../../elsewhere"])
    assert escaping.exit_code == 1 and "use letters, digits, _ and -" in escaping.output
    no_budget = runner.invoke(app, ["tune", "lin"])
    assert no_budget.exit_code == 1 and "give a budget" in no_budget.output


def test_the_overhead_benchmark_times_both_sides_and_leaves_the_users_stores_alone(project: Path) -> None:
    from ferpipe.tuning.overhead import measure_overhead

    printed = measure_overhead(Paths(project), load_params(project / "params.yaml"), "lin", repeats=1)
    assert "plain fit s" in printed and "one-trial worker s" in printed and "median overhead" in printed
    assert not (project / "optuna.db").exists() and not (project / "mlflow.db").exists()


def test_a_study_store_that_does_not_answer_is_one_line_naming_it_without_its_password(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERPIPE_OPTUNA_STORAGE", "postgresql://team:s3cret@127.0.0.1:1/optuna")
    result = CliRunner().invoke(app, ["tune", "lin", "--trials", "1"])
    assert result.exit_code == 1, result.output
    assert "the study store postgresql://team:***@127.0.0.1:1/optuna failed" in result.output
    assert "s3cret" not in result.output and "FERPIPE_OPTUNA_STORAGE" in result.output


# --- two workers, one study, on PostgreSQL --------------------------------------------------


@pytest.fixture(scope="module")
def optuna_database() -> Iterator[str]:
    """A PostgreSQL database of its own for the study (MLflow's tables would share alembic's)."""
    try:
        with postgres() as uri:
            import psycopg

            with psycopg.connect(uri, autocommit=True) as db:
                db.execute("CREATE DATABASE optuna")
            yield uri.rsplit("/", 1)[0] + "/optuna"
    except Unavailable as why:
        pytest.skip(str(why))


def _start(project: Path, url: str, trials: int) -> subprocess.Popen:
    environment = {**os.environ, "FERPIPE_OPTUNA_STORAGE": url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "ferpipe.cli", "tune", "lin", "--trials", str(trials)]
    return subprocess.Popen(
        command, cwd=project, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.slow
def test_two_workers_share_one_study_and_a_killed_workers_trial_is_retried(
    project: Path, optuna_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    monkeypatch.setenv("FERPIPE_OPTUNA_STORAGE", optuna_database)
    params = load_params(project / "params.yaml").document()
    params["models"]["lin"]["epochs"] = 40  # long enough to be killed mid-trial
    write_params(project, **params)
    doomed = _start(project, optuna_database, 8)
    study = _wait_for_a_running_trial(optuna_database)
    doomed.send_signal(signal.SIGKILL)  # no handler runs: only the heartbeat tells the others
    doomed.wait()
    killed = next(t for t in study.get_trials() if t.state.name == "RUNNING")
    time.sleep(3)  # past the grace period (2 x heartbeat_s = 2 s)
    workers = [_start(project, optuna_database, 4) for _ in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    trials = load_existing(optuna_database, "lin").get_trials()
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # every number once, none lost
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) >= 4
    assert next(t for t in trials if t.number == killed.number).state.name == "FAIL"
    retried = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number]
    assert len(retried) == 1 and retried[0].params == killed.params
    assert retried[0].state.name in ("COMPLETE", "PRUNED")
    client = mlflow.MlflowClient(
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"]
    )  # the workers' store, not the last test's
    assert client.get_run(killed.user_attrs[RUN_ATTR]).info.status == "FAILED"
    assert any("joined" in out for out in outputs)


def _wait_for_a_running_trial(url: str, within_s: float = 120.0) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            study = load_existing(url, "lin")
        except ValueError:
            study = None
        if study is not None and any(
            t.state.name == "RUNNING" and RUN_ATTR in t.user_attrs for t in study.get_trials()
        ):
            return study
        time.sleep(0.2)
    raise AssertionError("no trial started within 2 minutes")
