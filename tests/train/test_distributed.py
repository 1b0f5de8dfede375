"""Data-parallel training: 2 CPU processes (gloo) under torchrun against a single process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ferpipe.config import Paths
from ferpipe.data.dataset import Split, load_split, save_prepared
from ferpipe.data.prepare import prepare
from ferpipe.models import create_model
from ferpipe.stages import balance as balance_stage
from ferpipe.stages import train as train_stage
from ferpipe.train.config import TrainConfig
from ferpipe.train.distributed import joined_world
from ferpipe.train.loop import _batch_starts, fit
from tests.conftest import TINY_SOURCES, params_of, prepare_of, sources_of, write_params
from tests.services import free_port

pytestmark = pytest.mark.slow


def _params(batch_size: int) -> dict:
    # logreg: no batch norm or dropout, so sharding the batch must not change the arithmetic; in fp32,
    # since bf16 autocast (on a CPU that has it) rounds a half batch's sums differently from a whole one's
    return {
        "mlflow": {"experiment": "ddp-test"},
        "balance": {"method": "none"},
        "train": {"epochs_scale": 1.0, "batch_size": batch_size, "patience": 5, "amp": "none"},
        "models": {"net": {"arch": "logreg", "epochs": 3, "lr": 1.0e-3}},
    }


def _batch_size(n: int) -> int:
    """A batch size whose last batch both runs keep, so they see exactly the same batches."""
    return next(b for b in range(24, 64) if list(_batch_starts(n, b)) == list(_batch_starts(n, b, ranks=2)))


@pytest.fixture(scope="module")
def runs(tiny_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, Paths, dict]:
    """The same model trained by one process and by two under torchrun, in two project folders."""
    single = Paths(tmp_path_factory.mktemp("single"))
    usage = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    result = prepare(sources_of(TINY_SOURCES), tiny_raw, prepare_of({"usage_map": usage}))
    save_prepared(single.audited, result.images, result.manifest)
    balance_stage.run(params_of(**_params(32), ensemble={"members": ["net"]}, distill={}), single)
    params = _params(_batch_size(len(load_split(single.balanced, "train"))))
    parallel = Paths(tmp_path_factory.mktemp("parallel"))
    shutil.copytree(single.data, parallel.data)
    (parallel.root / "dvc.yaml").write_text("stages: {}\n")
    write_params(parallel.root, **params, ensemble={"members": ["net"]}, distill={})

    env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "MLFLOW_TRACKING_URI")}
    env["OMP_NUM_THREADS"] = "1"  # two processes on a small CPU: one thread each
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*cmd, "-m", "ferpipe.cli", "train", "net"],
        cwd=parallel.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        train_stage.run("net", params_of(**params, ensemble={"members": ["net"]}, distill={}), single)
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return single, parallel, {"stdout": done.stdout, "stderr": done.stderr}


def test_two_processes_learn_what_one_does(runs) -> None:
    single, parallel, _ = runs
    a = pd.read_csv(single.metrics / "curves" / "net.csv")
    b = pd.read_csv(parallel.metrics / "curves" / "net.csv")
    assert list(a["val_accuracy"]) == list(b["val_accuracy"])
    np.testing.assert_allclose(b[["train_loss", "val_loss"]], a[["train_loss", "val_loss"]], atol=1e-4)
    wa = torch.load(single.models / "net" / "model.pt", weights_only=True)["state_dict"]
    wb = torch.load(parallel.models / "net" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)


def test_rank_zero_alone_logs_one_mlflow_run(runs) -> None:
    import mlflow

    _, parallel, output = runs
    client = mlflow.MlflowClient(f"sqlite:///{parallel.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ddp-test")
    found = client.search_runs([experiment.experiment_id])
    assert len(found) == 1, [r.info.run_name for r in found]
    assert found[0].data.params["world_size"] == "2" and found[0].info.status == "FINISHED"
    assert len(client.get_metric_history(found[0].info.run_id, "val/accuracy")) == 3
    assert output["stdout"].count("epoch 3:") == 1  # one rank reports
    assert not (parallel.data / "checkpoints" / "net").exists()


def _train_and_count_rows(rank: int, size: int, port: int, out: Path) -> None:
    """One rank of a gloo world: train an epoch and write how many training rows its model saw."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(size))
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    train = Split(rng.integers(0, 256, (100, 48, 48), dtype=np.uint8), rng.integers(0, 7, 100))
    val = Split(rng.integers(0, 256, (20, 48, 48), dtype=np.uint8), rng.integers(0, 7, 20))
    with joined_world() as world:
        model = create_model("logreg")
        seen: list[int] = []
        model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])) if module.training else None)
        fit(model, train, val, TrainConfig(epochs=1, batch_size=10), world=world)
    (out / f"rank{rank}").write_text(str(sum(seen)))


def test_each_rank_trains_on_its_own_half(tmp_path: Path) -> None:
    torch.multiprocessing.spawn(_train_and_count_rows, args=(2, free_port(), tmp_path), nprocs=2)
    assert [int((tmp_path / f"rank{r}").read_text()) for r in range(2)] == [50, 50]
