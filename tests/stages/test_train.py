"""The train stage end to end on tiny data: same seed, same model and curves; checkpoints cleaned up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ferpipe import tracking
from ferpipe.config import Paths
from ferpipe.data.dataset import load_split, save_prepared
from ferpipe.data.prepare import prepare
from ferpipe.stages import balance as balance_stage
from ferpipe.stages import train as train_stage
from tests.conftest import TINY_SOURCES, params_of, prepare_of, sources_of

SECTIONS = {
    "mlflow": {"experiment": "stage-test"},
    "balance": {"method": "none"},
    "train": {"epochs_scale": 1.0, "batch_size": 32, "patience": 5},
    "models": {"net": {"arch": "simple_cnn", "epochs": 2, "lr": 3.0e-3, "args": {"widths": [8, 8, 8]}}},
    "ensemble": {"members": ["net"]},
    "distill": {},
}
PARAMS = params_of(**SECTIONS)


@pytest.fixture
def project(tiny_raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    paths = Paths(tmp_path / "a")
    usage = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    result = prepare(sources_of(TINY_SOURCES), tiny_raw, prepare_of({"usage_map": usage}))
    save_prepared(paths.audited, result.images, result.manifest)
    balance_stage.run(PARAMS, paths)
    return paths


def test_same_seed_same_model_and_curves(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twin = Paths(project.root.parent / "b")
    shutil.copytree(project.data, twin.data)
    train_stage.run("net", PARAMS, project)
    assert "train net: 2 epochs" in capsys.readouterr().out
    train_stage.run("net", PARAMS, twin)
    assert (project.metrics / "curves" / "net.csv").read_text() == (twin.metrics / "curves" / "net.csv").read_text()
    a = torch.load(project.models / "net" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(twin.models / "net" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (project.models / "net" / "model.pt").read_bytes() == (twin.models / "net" / "model.pt").read_bytes()
    assert not (project.data / "checkpoints" / "net").exists()  # finished runs leave no checkpoint behind


def test_a_model_may_balance_its_own_training_rows(project: Paths) -> None:
    import mlflow

    own = {**SECTIONS["models"]["net"], "epochs": 1, "balance": {"method": "ros"}}
    train_stage.run("net", params_of(**{**SECTIONS, "models": {"net": own}}), project)
    experiment_id = mlflow.get_experiment_by_name(PARAMS.mlflow.experiment).experiment_id
    run = mlflow.get_run(tracking.model_run(experiment_id, project.models / "net" / "model.pt"))
    assert int(run.data.params["n_train"]) > len(load_split(project.balanced, "train"))
    assert run.data.params["balance.method"] == "ros" and run.data.tags["leaky"] == "false"
