"""End to end: ``dvc repro`` in a temporary copy of the project with tiny params."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ferpipe.config import load_yaml
from tests.conftest import REPO, TINY_SOURCES

pytestmark = pytest.mark.slow
MODELS = ("cnn", "logreg")


def _tiny_params() -> dict:
    params = load_yaml(REPO / "params.yaml")
    params["sources"] = TINY_SOURCES
    params["mlflow"]["experiment"] = "e2e"
    params["balance"] = {"method": "augment", "strategy": {"disgust": 40}, "seed": 0}
    params["train"].update({"patience": 10, "batch_size": 32, "epochs_scale": 1.0})
    params["models"] = {
        "cnn": {"arch": "simple_cnn", "args": {"widths": [16, 32, 32], "dropout": 0.0}, "epochs": 10, "lr": 3.0e-3},
        "logreg": {"arch": "logreg", "epochs": 10, "lr": 2.0e-4},
    }
    params["ensemble"]["members"] = list(MODELS)
    return params


def _run(cmd: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        # dvc exp run commits internally: give it an identity on bare CI machines
        **{
            f"GIT_{who}_{what}": value
            for who in ("AUTHOR", "COMMITTER")
            for what, value in (("NAME", "ferpipe-test"), ("EMAIL", "test@localhost"))
        },
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("DVC_ROOT", None)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC copy of the project whose pipeline has been reproduced once."""
    work = tmp_path_factory.mktemp("project")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("src", "stages"):
        shutil.copytree(REPO / folder, work / folder, ignore=ignore)
    shutil.copy(REPO / "dvc.yaml", work)
    shutil.copy(REPO / ".gitignore", work)
    (work / "params.yaml").write_text(yaml.safe_dump(_tiny_params(), sort_keys=False))
    _run(["git", "init", "-q"], work)
    _run(["git", "commit", "-q", "--allow-empty", "-m", "init"], work)
    _run(["dvc", "init", "-q"], work)
    _run(["dvc", "repro"], work)
    _run(["git", "add", "-A"], work)
    _run(["git", "commit", "-q", "-m", "repro"], work)
    return work


def _metrics(project: Path, name: str) -> dict:
    return json.loads((project / "metrics" / f"{name}.json").read_text())


def test_every_output_exists(project: Path) -> None:
    for model in MODELS:
        assert (project / "data" / "models" / model / "model.pt").exists()
        assert (project / "data" / "models" / model / "mlflow_run_id").exists()
        assert (project / "data" / "predictions" / model / "test.npy").exists()
        assert (project / "metrics" / "confusion" / f"{model}.png").exists()
        assert (project / "metrics" / "curves" / f"{model}.csv").exists()
    for method in ("average", "weighted", "vote"):
        assert (project / "metrics" / "confusion" / f"ensemble_{method}.csv").exists()
    assert (project / "metrics" / "audit_pairs.png").exists()
    assert _metrics(project, "audit")["policy"] == "drop_from_train"


def test_cnn_and_ensembles_beat_chance_and_logreg(project: Path) -> None:
    chance = 1 / 7  # balanced accuracy of guessing
    cnn = _metrics(project, "cnn")["test"]["balanced_accuracy"]
    assert cnn > chance + 0.1
    assert cnn > _metrics(project, "logreg")["test"]["balanced_accuracy"]
    ensemble = _metrics(project, "ensemble")
    assert ensemble["members"] == list(MODELS) and set(ensemble["weights"]) == set(MODELS)
    for method in ("average", "weighted", "vote"):
        assert ensemble[method]["test"]["balanced_accuracy"] > chance + 0.1


def test_contempt_dropped_and_balance_touched_training_only(project: Path) -> None:
    report = _metrics(project, "data_report")
    assert any("contempt" in reason for reason in report["dropped"])
    balance = _metrics(project, "balance")
    assert balance["train_after"]["disgust"] == 40 > balance["train_before"]["disgust"]
    fer = report["counts"]["fer2013"]
    assert balance["val_untouched"] == fer["val"] and balance["test_untouched"] == fer["test"]


def test_second_repro_runs_nothing(project: Path) -> None:
    out = _run(["dvc", "repro"], project)
    assert "Running stage" not in out


def test_mlflow_holds_one_run_per_model_with_curves(project: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`ferpipe.kind` = 'model'")
    assert sorted(runs["tags.ferpipe.model"]) == sorted(MODELS)
    client = mlflow.MlflowClient()
    for _, run in runs.iterrows():
        history = client.get_metric_history(run["run_id"], "val/accuracy")
        assert len(history) == _metrics(project, f"train/{run['tags.ferpipe.model']}")["epochs_run"]
        assert run["metrics.test/accuracy"] > 0
        assert run["tags.dvc.stage"] == f"train@{run['tags.ferpipe.model']}"


def test_dvc_metrics_and_plots_show(project: Path) -> None:
    assert "test.accuracy" in _run(["dvc", "metrics", "show"], project)
    _run(["dvc", "plots", "show", "-o", "plots_html"], project)
    assert (project / "plots_html" / "index.html").exists()


def test_changing_one_model_reruns_only_it_and_the_ensemble(project: Path) -> None:
    out = _run(["dvc", "exp", "run", "-S", "models.logreg.epochs=2"], project)
    ran = sorted(line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage"))
    assert ran == ["ensemble", "evaluate@logreg", "train@logreg"]
