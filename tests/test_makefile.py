"""The Makefile a new user reads first: `make help` lists the targets; `make clean` keeps the MLflow store."""

from __future__ import annotations

import subprocess

from typer.testing import CliRunner

from ferpipe.cli import app
from tests.conftest import REPO


def _make(*args: str) -> str:
    done = subprocess.run(["make", "-s", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_with_no_target_lists_every_commented_target() -> None:
    listed = _make()
    for target in ("repro", "test", "restore", "clean", "clean-mlflow"):
        assert f"  {target} " in listed


def test_make_clean_keeps_the_mlflow_store_and_clean_mlflow_asks_first() -> None:
    clean = _make("-n", "clean")
    assert "rm -rf data" in clean and "mlflow.db" not in clean and "mlruns" not in clean
    done = subprocess.run(
        ["make", "-s", "clean-mlflow"], cwd=REPO, input="n\n", capture_output=True, text=True, timeout=60
    )
    assert "kept" in done.stdout


def test_ferpipe_models_lists_the_models_params_yaml_trains(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    out = CliRunner().invoke(app, ["models"], catch_exceptions=False).output
    table = out.split("architectures")[0]
    assert "cnn" in table and "mini_xception" in table and "simple_cnn" in table
    assert "12 of 120" in table  # params.yaml's cnn: 120 recipe epochs under train.epochs_scale 0.1
    assert "runs N of the recipe's M epochs (train.epochs_scale: 0.1)" in table


def test_a_model_whose_epochs_the_scale_cuts_says_so() -> None:
    from ferpipe.train.config import TrainConfig

    assert TrainConfig(epochs=2, epochs_scale=0.1).epochs_note() == "1 of the recipe's 2 epochs (epochs_scale 0.1)"
    assert TrainConfig(epochs=2, epochs_scale=1.0).epochs_note() == "2 epochs"
