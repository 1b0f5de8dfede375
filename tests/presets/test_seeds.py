"""`ferpipe seeds`: the summary over seeds (the queued run itself is tested end to end in test_pipeline_e2e)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.presets.seeds import claim, experiment_name, queue_seeds, queue_tasks, run_queue, summarise


def test_each_score_is_summarised_as_mean_sample_sd_and_range() -> None:
    per_seed = {
        0: {"test_acc": 0.665, "val_acc": 0.675},
        1: {"test_acc": 0.660, "val_acc": 0.672},
        2: {"test_acc": 0.671},
    }
    found = summarise(per_seed)
    assert found["test_acc"]["mean"] == pytest.approx(np.mean([0.665, 0.660, 0.671]), abs=1e-6)
    assert found["test_acc"]["std"] == pytest.approx(np.std([0.665, 0.660, 0.671], ddof=1), abs=1e-6)
    assert (found["test_acc"]["min"], found["test_acc"]["max"], found["test_acc"]["n"]) == (0.66, 0.671, 3)
    assert found["val_acc"]["n"] == 2 and "test_f1" not in found
    assert claim("test_acc", found["test_acc"]) == "test_acc 66.5 ± 0.6 over 3 seeds (range 66.0-67.1)"
    assert experiment_name("cnn", 2) == "seeds-cnn-2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seeds", "vgg"], "no model 'vgg' under models"),
        (["seeds", "cnn", "--also", "cnn_ema"], "no model 'cnn_ema' under models"),
        (["seeds", "cnn", "--seeds", "1,x"], "--seeds '1,x': whole numbers"),
        (["seeds", "cnn", "--seeds", "3,3"], "at least two different seeds"),
    ],
)
def test_bad_requests_are_one_line(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and message in result.output, result.output


@pytest.fixture
def tiny_dvc_repo(tmp_path: Path) -> Iterator[Path]:
    """A git + DVC repo with one stage reading ``models.m.seed``: enough for DVC's queue, in seconds."""
    from tests.project import env

    (tmp_path / "params.yaml").write_text("models:\n  m:\n    seed: 0\n")
    (tmp_path / "dvc.yaml").write_text(
        'stages:\n  s:\n    cmd: python3 -c "print(1)" > out.txt\n    params: [models.m.seed]\n    outs: [out.txt]\n'
    )
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=env())
    subprocess.run(["git", "commit", "-qm", "tiny"], cwd=tmp_path, check=True, env=env())
    yield tmp_path
    subprocess.run([sys.executable, "-m", "dvc", "queue", "stop"], cwd=tmp_path, env=env(), capture_output=True)


def test_the_queue_runs_when_this_environment_is_not_on_path(
    tiny_dvc_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.venv/bin/ferpipe seeds` from a shell without the venv on PATH: DVC's worker starts `dvc` by
    name, and used to find none, leaving the tasks queued for ever while ferpipe waited."""
    from tests.project import env

    for key, value in env().items():
        if key.startswith("GIT_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    names = queue_seeds(tiny_dvc_repo, "m", [1, 2])
    status = run_queue(tiny_dvc_repo, jobs=1, limit_s=240)
    assert queue_tasks(status) == {name: "Success" for name in names}, status


def test_models_compared_over_the_seeds_are_seeded_together(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The EMA runs compared `cnn11_ema` (seeded) with `cnn11`, which trained with seed 0 in all three
    experiments: `--also` gives the other side each experiment's seed too."""
    from ferpipe.presets import seeds

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(seeds, "_dvc", lambda root, *args, **kwargs: calls.append(args) or "")
    seeds.queue_seeds(tmp_path, "b", [3, 4], also=["a"])
    queued = [args for args in calls if args[:3] == ("exp", "run", "--queue")]
    assert queued == [
        ("exp", "run", "--queue", "-n", "seeds-b-3", "-S", "++models.b.seed=3", "-S", "++models.a.seed=3"),
        ("exp", "run", "--queue", "-n", "seeds-b-4", "-S", "++models.b.seed=4", "-S", "++models.a.seed=4"),
    ]


def test_asking_again_while_seeds_are_queued_is_refused_not_doubled(tiny_dvc_repo: Path) -> None:
    queue_seeds(tiny_dvc_repo, "m", [1, 2])
    with pytest.raises(ValueError, match=r"seeds-m-1 \(queued\), seeds-m-2 \(queued\) already in DVC's queue"):
        queue_seeds(tiny_dvc_repo, "m", [1, 2])
    subprocess.run([sys.executable, "-m", "dvc", "queue", "remove", "--queued"], cwd=tiny_dvc_repo, check=True)


def test_tasks_that_no_worker_picks_up_are_an_error_not_a_wait(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ferpipe.presets import seeds

    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    monkeypatch.setattr(seeds.subprocess, "run", lambda *args, **kwargs: subprocess.CompletedProcess(args, 0))
    monkeypatch.setattr(
        seeds,
        "_dvc",
        lambda *args, **kwargs: (
            "Task  Name  Created  Status\nab  seeds-m-1  10:50 AM  Queued\n\nWorker status: 0 active, 0 idle\n"
        ),
    )
    monkeypatch.setattr(seeds, "WORKER_GRACE_S", 0.0)
    with pytest.raises(ValueError, match="no DVC queue worker is running"):
        seeds.run_queue(tmp_path, jobs=1, limit_s=60)


def test_a_worker_idle_between_two_tasks_is_not_taken_for_a_missing_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A 3-seed run ended in "no DVC queue worker" while its worker, idle for a moment between two
    tasks, went on to run the rest: only tasks with no worker at all, for the whole grace, stall."""
    from ferpipe.presets import seeds

    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    monkeypatch.setattr(seeds.subprocess, "run", lambda *args, **kwargs: subprocess.CompletedProcess(args, 0))
    monkeypatch.setattr(seeds.time, "sleep", lambda seconds: None)
    statuses = iter(
        [
            "Task  Name  Created  Status\nab  seeds-m-1  10:50 AM  Queued\n\nWorker status: 0 active, 1 idle\n",
            "Task  Name  Created  Status\nab  seeds-m-1  10:50 AM  Running\n\nWorker status: 1 active, 0 idle\n",
            "Task  Name  Created  Status\nab  seeds-m-1  10:50 AM  Success\n\nWorker status: 0 active, 0 idle\n",
        ]
    )
    monkeypatch.setattr(seeds, "_dvc", lambda *args, **kwargs: next(statuses))
    monkeypatch.setattr(seeds, "WORKER_GRACE_S", 0.0)
    assert "Success" in seeds.run_queue(tmp_path, jobs=1, limit_s=60)


def test_the_seed_table_shows_each_score_as_mean_sd_and_range_with_the_budget(tmp_path: Path) -> None:
    from ferpipe.io import write_json
    from ferpipe.presets.seeds import SEEDS_FOLDER, seeds_table

    per_seed = {0: {"test_acc": 0.665, "val_acc": 0.675}, 1: {"test_acc": 0.660, "val_acc": 0.672}}
    write_json(
        tmp_path / SEEDS_FOLDER / "fer2013_shared-cnn.json",
        {
            "model": "cnn",
            "seeds": {str(s): {**v, "budget": {"epochs": 21, "train_minutes": 17.5}} for s, v in per_seed.items()},
            "summary": summarise(per_seed),
            "train_minutes": 17.5,
            "test_split": "PublicTest",
            "machine": {"cores": 2, "gpu": None},
            "commit": "abc1234",
            "recorded": "2026-12-04",
        },
    )
    table = seeds_table(tmp_path)
    assert "| fer2013_shared-cnn (2-core CPU, 2026-12-04, commit abc1234) | cnn | 0, 1 | 21 | 17.5, 17.5 |" in table
    assert "67.3 ± 0.2, range 67.2-67.5" in table and "66.2 ± 0.4, range 66.0-66.5 (PublicTest)" in table
    assert seeds_table(tmp_path / "none") == "(no seed records in results/seeds/)"
