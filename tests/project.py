"""A throwaway git + DVC copy of the project with tiny params, for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ferpipe.config import load_yaml
from tests.conftest import REPO, TINY_SOURCES

MODELS = ("cnn", "logreg")
CROSS_SOURCE = "ckplus_heldout"  # a second CK+ twin, never trained on: scored as a cross-dataset test set
TINY_CROSS = {
    "fetch": {"kind": "synthetic", "layout": "ckplus", "seed": 5, "sequences": 12, "subjects": 4},
    "read": {"format": "ckplus", "role": "test_only"},
}
STUDENT = "logreg_distilled"  # logreg's recipe taught by the ensemble: the cheapest student, rerun by many tests


def tiny_params(experiment: str) -> dict:
    """The repo's params with tiny sources (one of them test-only) and two quick models."""
    params = load_yaml(REPO / "params.yaml")
    params["sources"] = {**TINY_SOURCES, CROSS_SOURCE: TINY_CROSS}  # the cross-dataset path, end to end
    params["mlflow"]["experiment"] = experiment
    params["balance"] = {"method": "augment", "strategy": {"disgust": 40}, "seed": 0}
    params["train"].update({"patience": 10, "batch_size": 32, "epochs_scale": 1.0})
    params["models"] = {
        "cnn": {"arch": "simple_cnn", "args": {"widths": [16, 32, 32], "dropout": 0.0}, "epochs": 10, "lr": 3.0e-3},
        "logreg": {"arch": "logreg", "epochs": 10, "lr": 2.0e-4},
    }
    params["ensemble"]["members"] = list(MODELS)
    params["distill"] = {STUDENT: {**params["distill"]["cnn_distilled"], "recipe": "logreg"}}
    return params


def env(**extra: str) -> dict[str, str]:
    """This interpreter's tools first on PATH, a git identity, and no tracking settings leaking in."""
    out = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        # dvc exp run commits internally: give it an identity on bare CI machines
        **{
            f"GIT_{who}_{what}": value
            for who in ("AUTHOR", "COMMITTER")
            for what, value in (("NAME", "ferpipe-test"), ("EMAIL", "test@localhost"))
        },
    }
    out.pop("MLFLOW_TRACKING_URI", None)
    out.pop("DVC_ROOT", None)
    return {**out, **extra}


def run(cmd: list[str], cwd: Path, environment: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its output when it fails."""
    done = subprocess.run(cmd, cwd=cwd, env=environment or env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def make_project(work: Path, params: dict, thresholds: dict, environment: dict[str, str] | None = None) -> Path:
    """Copy the code into ``work``, write params, `dvc repro` once and commit everything."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("src", "stages"):
        shutil.copytree(REPO / folder, work / folder, ignore=ignore)
    shutil.copy(REPO / "dvc.yaml", work)
    shutil.copy(REPO / ".gitignore", work)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (work / "thresholds.yaml").write_text(yaml.safe_dump(thresholds))
    run(["git", "init", "-q"], work)
    run(["git", "commit", "-q", "--allow-empty", "-m", "init"], work)
    run(["dvc", "init", "-q"], work)
    shutil.copy(REPO / ".dvcignore", work)  # the committed one: it keeps killed writes' temporaries out of hashes
    shutil.copytree(REPO / ".dvc" / "plots", work / ".dvc" / "plots")
    run(["dvc", "repro"], work, environment)
    run(["git", "add", "-A"], work)
    run(["git", "commit", "-q", "-m", "repro"], work)
    return work


def start_workers(project: Path, environment: dict[str, str] | None = None) -> None:
    """`dvc queue start -j 2`, its output in a file: the workers it forks inherit its stdout, so with
    pipes (as `run` uses) waiting for its output would wait for the whole queue."""
    with tempfile.TemporaryFile("w+") as log:
        done = subprocess.run(
            ["dvc", "queue", "start", "-j", "2"],
            cwd=project,
            env=environment or env(),
            stdout=log,
            stderr=log,
            timeout=120,
        )
        log.seek(0)
        assert done.returncode == 0, f"dvc queue start failed:\n{log.read()[-4000:]}"


def run_queued(project: Path, experiments: dict[str, list[str]], environment: dict[str, str] | None = None) -> str:
    """Queue one DVC experiment per name (with its ``-S`` settings), run two at a time, wait for all."""
    for name, settings in experiments.items():
        run(["dvc", "exp", "run", "--queue", "-n", name, *settings], project, environment)
    start_workers(project, environment)
    deadline = time.monotonic() + 600
    while any(
        word in (status := run(["dvc", "queue", "status"], project, environment)) for word in ("Queued", "Running")
    ):
        assert time.monotonic() < deadline, status
        time.sleep(3)
    return status
