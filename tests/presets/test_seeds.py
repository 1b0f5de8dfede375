"""`ferpipe seeds`: the summary over seeds (the queued run itself is tested end to end in test_pipeline_e2e)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.presets.seeds import claim, experiment_name, summarise


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
        (["seeds", "cnn", "--seeds", "1,x"], "--seeds '1,x': whole numbers"),
        (["seeds", "cnn", "--seeds", "3,3"], "at least two different seeds"),
    ],
)
def test_bad_requests_are_one_line(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and message in result.output, result.output
