"""`ferpipe compare`: two models, ensemble methods or revisions, paired on the same faces."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.config import Paths
from ferpipe.data.dataset import save_prepared
from ferpipe.evaluate.compare import load_side, paired_sides
from tests.project import env

N = 400


def _probs(labels: np.ndarray, right: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    guess = np.where(rng.random(len(labels)) < right, labels, (labels + 1 + rng.integers(0, 6, len(labels))) % 7)
    return np.eye(7, dtype=np.float32)[guess] * 0.9 + 0.1 / 7


@pytest.fixture
def scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Balanced splits, two models' probabilities and an ensemble summary, as the pipeline leaves them."""
    paths = Paths(tmp_path)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2 * N, 48, 48), dtype=np.uint8)
    labels = rng.integers(0, 7, 2 * N)
    manifest = pd.DataFrame({"index": range(2 * N), "split": ["val"] * N + ["test"] * N, "label": labels})
    save_prepared(paths.balanced, images, manifest)
    for name, right in (("cnn", 0.6), ("big", 0.8)):
        for i, split in enumerate(("val", "test")):
            paths.probabilities(name, split).parent.mkdir(parents=True, exist_ok=True)
            np.save(paths.probabilities(name, split), _probs(labels[i * N : (i + 1) * N], right, i))
    paths.details.mkdir(parents=True)
    paths.detail("ensemble").write_text(json.dumps({"members": ["cnn", "big"], "weights": {"cnn": 0.3, "big": 0.7}}))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_comparison_is_kept_as_json_when_asked(scored: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compare", "cnn", "big", "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    kept = json.loads((tmp_path / "c.json").read_text())
    assert kept["split"] == "test" and kept["a"] == "cnn" and kept["b"] == "big" and "p_value" in kept


def test_two_models_and_an_ensemble_method_are_compared_on_the_same_faces(scored: Path) -> None:
    found = paired_sides(load_side(scored, "cnn", "test"), load_side(scored, "big", "test"))
    assert (
        found.n == N and found.beyond_noise and found.difference == pytest.approx(found.accuracy_b - found.accuracy_a)
    )
    assert found.sentence().startswith("big is ")
    weighted = load_side(scored, "ensemble_weighted", "test")
    assert weighted.predicted.shape == (N,)
    result = CliRunner().invoke(app, ["compare", "cnn", "big", "--split", "val"], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    assert "big against cnn on the same 400 val faces" in result.output and "McNemar p" in result.output
    assert result.output.strip().splitlines()[-1].startswith("big is ") and "beyond noise" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["compare", "nope", "cnn"],
            "'nope': no model, student or ensemble method of that name (this workspace has big, cnn)",
        ),
        (["compare", "ensemble_median", "cnn"], "'ensemble_median': no such ensemble method"),
        (["compare", "cnn", "big", "--split", "train"], "--split 'train': choose val or test"),
        (["compare", "cnn@no-such-rev", "cnn"], "DVC cannot fetch"),
        (["compare", "cnn", "big", "--seeds", "0,1"], "--seeds: name each seed's side with {seed} in A and B"),
        (["compare", "cnn@s-{seed}", "big@s-{seed}", "--seeds", "0"], "--seeds '0': at least two different seeds"),
    ],
)
def test_bad_sides_are_one_line(scored: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_revision_is_read_through_dvc_and_other_faces_are_refused(scored: Path) -> None:
    def run(*cmd: str) -> None:
        done = subprocess.run(cmd, cwd=scored, env=env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run("dvc", "add", "data/balanced", "data/predictions")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "scored")
    paths = Paths(scored)
    np.save(paths.probabilities("cnn", "test"), np.load(paths.probabilities("big", "test")))  # cnn improved since
    found = paired_sides(load_side(scored, "cnn@HEAD", "test"), load_side(scored, "cnn", "test"))
    assert found.a == "cnn@HEAD" and found.beyond_noise and found.difference > 0.1
    images = np.load(paths.balanced / "images.npy")
    images[-1] = 255 - images[-1]  # one test face replaced
    np.save(paths.balanced / "images.npy", images)
    with pytest.raises(
        ValueError, match=r"cnn@HEAD and cnn were scored on different faces \(400 and 400 faces, 1 differ\)"
    ):
        paired_sides(load_side(scored, "cnn@HEAD", "test"), load_side(scored, "cnn", "test"))
