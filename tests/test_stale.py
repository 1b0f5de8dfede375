"""``ferpipe stale`` reads ``dvc status --json`` and names the cause of each change."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ferpipe.checks.stale import classify
from tests.conftest import REPO, TINY_SOURCES
from tests.project import env, run, tiny_params

OUTPUTS = {"data/raw/fer2013", "data/prepared", "data/models/cnn", "reports/report.html", "metrics/cnn.json"}


def test_each_kind_of_change_is_named_and_only_missing_things_are_not_stale() -> None:
    status = {
        "prepare": [
            {"changed deps": {"src/ferpipe/serving/detect.py": "modified", "data/raw": "deleted"}},
            {"changed outs": {"data/prepared": "deleted"}},
        ],
        "train@cnn": [{"changed deps": {"params.yaml": {"models.cnn.epochs": "modified"}}}, "changed command"],
        "report": [{"changed outs": {"reports/report.html": "modified"}}],
        "evaluate@cnn": [{"changed deps": {"data/models/cnn": "modified"}}],
    }
    found = {(c.stage, c.cause): c for c in classify(status, OUTPUTS)}
    assert found["prepare", "changed code"].where == "src/ferpipe/serving/detect.py (modified)"
    assert not found["prepare", "missing data"].stale and not found["prepare", "missing output"].stale
    assert found["train@cnn", "changed params"].where == "params.yaml:models.cnn.epochs"
    assert found["train@cnn", "changed command"].stale
    assert found["report", "modified output"].where == "reports/report.html (modified)"
    assert found["evaluate@cnn", "changed data"].stale


def test_a_fresh_clone_with_no_data_is_not_stale() -> None:
    status = {
        "train@cnn": [
            {"changed deps": {"data/balanced": "deleted"}},
            {"changed outs": {"data/models/cnn": "not in cache"}},
        ]
    }
    assert not any(c.stale for c in classify(status, {"data/balanced", "data/models/cnn"}))


def test_a_folder_of_another_stages_outputs_that_is_partly_missing_is_missing_not_changed() -> None:
    status = {
        "train@cnn": [{"changed outs": {"metrics/curves/cnn.csv": "deleted"}}],
        "report": [{"changed deps": {"metrics/curves": "modified"}}],  # only its .gitignore is left
    }
    found = classify(status, {"metrics/curves/cnn.csv"})
    assert [(c.stage, c.cause) for c in found] == [("train@cnn", "missing output"), ("report", "missing data")]
    assert not any(c.stale for c in found)


@pytest.mark.slow
def test_a_change_inside_a_path_source_reruns_its_download_and_stale_names_it(tiny_raw: Path, tmp_path: Path) -> None:
    """A ``path`` source lives outside the repo, where DVC hashes nothing: the watch stage's
    fingerprint is what makes a label changed in the user's own copy rerun its download (only)."""
    own = tmp_path / "my_copy"
    shutil.copytree(tiny_raw / "fer2013", own)
    work = tmp_path / "project"
    for folder in ("src", "stages"):
        shutil.copytree(REPO / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "dvc.yaml", work)
    shutil.copy(REPO / ".gitignore", work)
    params = tiny_params("watch")
    params["sources"] = {
        "mine": {"fetch": {"kind": "path", "path": str(own)}, "read": TINY_SOURCES["fer2013"]["read"]},
        "ckplus": TINY_SOURCES["ckplus"],
    }
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "prepare"]):
        run(cmd, work)

    csv_file = next(own.glob("*.csv"))
    lines = csv_file.read_text().splitlines()
    emotion, rest = lines[1].split(",", 1)
    lines[1] = f"{(int(emotion) + 1) % 7},{rest}"  # one label changed in the user's copy
    csv_file.write_text("\n".join(lines) + "\n")

    done = subprocess.run(["ferpipe", "stale"], cwd=work, env=env(), capture_output=True, text=True, timeout=300)
    assert "stale: download@mine: changed data: data/watch/mine.json" in done.stdout  # (and the stages never run)
    assert "download@ckplus" not in done.stdout
    rerun = run(["dvc", "repro", "prepare"], work)
    assert "Running stage 'download@mine'" in rerun and "Running stage 'prepare'" in rerun
    assert "Running stage 'download@ckplus'" not in rerun
