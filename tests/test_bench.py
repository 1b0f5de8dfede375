"""`ferpipe bench` on a tiny project: both tables and the goals are printed (no speed asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ferpipe.checks.bench import Throughput, share_of_step
from ferpipe.cli import app
from ferpipe.data.dataset import save_prepared
from tests.conftest import write_params


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    manifest = pd.DataFrame({"split": ["train"] * 120, "label": rng.integers(0, 7, 120)})
    save_prepared(tmp_path / "data" / "balanced", rng.integers(0, 256, (120, 48, 48), dtype=np.uint8), manifest)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    models = {"lin": {"arch": "logreg", "epochs": 1, "lr": 1.0e-3}}
    write_params(tmp_path, train={"batch_size": 16}, models=models, ensemble={"members": ["lin"]}, distill={})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_figure_is_the_median_of_its_repeats_with_its_quartiles_and_a_ratio_range() -> None:
    from ferpipe.checks.bench import ModelFigures

    plain = Throughput.of_rates("m", [90.0, 100.0, 110.0, 100.0, 95.0])
    loop = Throughput.of_rates("m", [80.0, 100.0, 120.0])
    assert (plain.images_per_second, plain.quartiles, plain.repeats) == (100.0, (95.0, 100.0), 5)
    assert plain.cell() == "100 (95-100)" and loop.cell() == "100 (90-110)"
    figures = ModelFigures(plain, loop, 0.0, plain)
    assert figures.ratio_cell() == "1.00 (0.90-1.16)"  # 90/100 and 110/95


def test_share_of_step_is_the_data_time_over_the_whole_step() -> None:
    assert share_of_step(Throughput("data", 1000.0), Throughput("model", 100.0)) == pytest.approx(1 / 11)


def test_bench_prints_the_loaders_the_models_and_the_goals(project: Path) -> None:
    args = ["bench", "--batches", "2", "--steps", "1", "--repeats", "2", "--seconds", "0.2"]
    args += ["--batch-size", "16", "--workers", "0", "--no-repro"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for line in ("torchvision ImageFolder + PIL", "albumentations per sample", "ferpipe batch path", "lin"):
        assert line in result.output
    assert "(120 training images, memory-mapped)" in " ".join(result.output.split())  # the title may wrap
    assert "goal: at least 10x" in result.output and "goal: under 5%" in result.output


def test_bench_names_an_unknown_model(project: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--model", "nope", "--batches", "1", "--workers", "0", "--no-repro"])
    assert result.exit_code == 1 and "no model nope" in result.output


def test_bench_times_ferpipes_own_loop_beside_the_plain_step(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop column comes from train.loop.fit itself (its epoch rate), not from a copy of the step."""
    import ferpipe.checks.bench as bench
    from ferpipe.config import load_params

    configs = []
    real_fit = bench.fit
    monkeypatch.setattr(bench, "fit", lambda *args, **kwargs: configs.append(args[3]) or real_fit(*args, **kwargs))
    options = bench.BenchOptions(batches=2, steps=3, repeats=3, seconds=0.2, batch_size=16, workers=0, repro=False)
    params = load_params(project / "params.yaml")
    text = bench.run_bench(project, params.models, params.train, options)
    assert len(configs) == 1 and configs[0].epochs == 4 and configs[0].batch_size == 16  # 3 timed after 1
    assert "ferpipe loop img/s" in text and "loop vs plain" in text and "fp32 plain img/s" in text
    assert "slowest loop vs plain step: " in text and "goal: at least 0.90" in text


@pytest.mark.parametrize(("arch", "loss"), [("hog_svm", "multi_margin_loss"), ("logreg", "cross_entropy")])
def test_the_plain_step_trains_with_the_models_own_loss(arch: str, loss: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """hog_svm's plain step pays for its hinge loss as its real loop does, so the ratio is the loop's cost."""
    import torch

    from ferpipe.checks.bench import plain_step_figure
    from ferpipe.models import create_model
    from ferpipe.train.config import TrainConfig

    called: list[str] = []
    real = getattr(torch.nn.functional, loss)
    monkeypatch.setattr(torch.nn.functional, loss, lambda *a, **k: called.append(loss) or real(*a, **k))
    batch, targets = torch.rand(8, 1, 48, 48), torch.randint(0, 7, (8,))
    figure = plain_step_figure(arch, create_model(arch), TrainConfig(batch_size=8), batch, targets, seconds=0.2)
    assert len(called) >= 3 and set(called) == {loss}  # the untimed first step, then torch.utils.benchmark's blocks
    low, high = figure.quartiles
    assert figure.repeats >= 3 and low <= figure.images_per_second <= high
