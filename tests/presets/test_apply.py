"""Presets: written into params.yaml with comments kept; the zoo preset is a valid recipe set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ferpipe.config import load_yaml
from ferpipe.models import create_model
from ferpipe.presets.apply import apply_preset, available
from ferpipe.train.config import TrainConfig
from ferpipe.train.optim import Schedule, build_optimizer
from tests.conftest import REPO, params_of


def test_a_preset_replaces_its_keys_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "small.yaml").write_text("models:\n  a:\n    arch: logreg\n")
    (tmp_path / "params.yaml").write_text("# keep me\ntrain:\n  lr: 1.0e-3  # and me\nmodels:\n  b: {arch: x}\n")
    assert available(tmp_path) == ["small"]
    assert apply_preset("small", tmp_path) == ["models"]
    text = (tmp_path / "params.yaml").read_text()
    assert "# keep me" in text and "# and me" in text
    assert load_yaml(tmp_path / "params.yaml") == {"train": {"lr": 0.001}, "models": {"a": {"arch": "logreg"}}}
    with pytest.raises(ValueError, match="available: small"):
        apply_preset("nope", tmp_path)


def test_a_preset_includes_others_under_its_own_keys(tmp_path: Path) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "recipe.yaml").write_text("models:\n  a: {arch: logreg}\ntrain:\n  lr: 1.0\n")
    (tmp_path / "presets" / "data.yaml").write_text("include: [recipe]\ntrain:\n  lr: 2.0\nsources: {}\n")
    (tmp_path / "presets" / "loop.yaml").write_text("include: loop\n")
    (tmp_path / "params.yaml").write_text("prepare: {}\n")
    assert sorted(apply_preset("data", tmp_path)) == ["models", "sources", "train"]
    assert load_yaml(tmp_path / "params.yaml") == {
        "prepare": {},
        "models": {"a": {"arch": "logreg"}},
        "train": {"lr": 2.0},
        "sources": {},
    }
    with pytest.raises(ValueError, match=r"includes itself \(loop -> loop\)"):
        apply_preset("loop", tmp_path)


@pytest.mark.parametrize("source", ["params.yaml", "presets/zoo.yaml", "presets/cpu_recipe.yaml"])
def test_every_shipped_model_recipe_builds(source: str) -> None:
    preset = {key: value for key, value in load_yaml(REPO / source).items() if key != "include"}
    params = params_of(**{"distill": {}, **preset})  # the schema: members are models, students have recipes
    for name, model_cfg in params.models.items():
        cfg = TrainConfig.of(params.train, model_cfg)
        model = create_model(model_cfg.arch, **model_cfg.args)
        optimizer = build_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay)
        Schedule(optimizer, cfg.schedule, cfg.total_epochs, 10, cfg.epochs_scale)
        assert cfg.total_epochs >= 1, name
        assert isinstance(model, torch.nn.Module)
