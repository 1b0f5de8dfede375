"""The tune section's search space: a bad key or bound is one error naming it; values go back into params."""

from __future__ import annotations

import copy

import pytest

from ferpipe.config import load_yaml
from ferpipe.schema import ParamsError, parse_params, validate_params
from ferpipe.tuning.space import exp_run_flags, tuned_space, with_values
from tests.conftest import REPO


def _params(space: dict) -> dict:
    params = copy.deepcopy(load_yaml(REPO / "params.yaml"))
    params["tune"] = {"space": space}
    return params


def test_the_shipped_space_is_valid_for_cnn() -> None:
    params = parse_params(load_yaml(REPO / "params.yaml"))
    assert set(tuned_space(params, "cnn")) == {"models.cnn.lr", "models.cnn.args.dropout", "train.label_smoothing"}


@pytest.mark.parametrize(
    ("space", "named", "says"),
    [
        ({"models.cnn.lrr": {"low": 1e-4, "high": 1e-2}}, "tune.space.models.cnn.lrr", "'lrr' is not a setting"),
        ({"train.augment": {"low": 0, "high": 1}}, "tune.space.train.augment", "augment.flip"),
        ({"train.lr": {"low": 1e-2, "high": 1e-4}}, "tune.space.train.lr", "not below high"),
        ({"train.lr": {"low": 0.0, "high": 1e-2, "log": True}}, "tune.space.train.lr", "needs low > 0"),
        ({"train.batch_size": {"type": "int", "low": 8.5, "high": 64}}, "tune.space.train.batch_size", "whole"),
        ({"train.lr": {"choices": [1e-3], "low": 1e-4}}, "tune.space.train.lr", "not both"),
        ({"tran.lr": {"low": 1e-4, "high": 1e-2}}, "tune.space.tran.lr", "train.<setting>"),
    ],
)
def test_a_misspelt_or_malformed_key_is_one_error_naming_it(space: dict, named: str, says: str) -> None:
    with pytest.raises(ParamsError) as caught:
        validate_params(_params(space))
    assert named in str(caught.value) and says in str(caught.value)


@pytest.mark.parametrize(
    ("space", "says"),
    [
        ({"train.label_smoothing": {"low": 0.0, "high": 1.5}}, "the value 1.5 is refused: train.label_smoothing"),
        ({"models.cnn.args.dropoutt": {"low": 0.0, "high": 0.5}}, "simple_cnn has no argument dropoutt"),
        ({"models.mini_xception.lr": {"low": 1e-4, "high": 1e-2}}, "sets model 'mini_xception'"),
        ({"models.nope.lr": {"low": 1e-4, "high": 1e-2}}, "'nope' is not a model under models (have: cnn, "),
        ({"train.optimizer": {"choices": ["adamw", "lion"]}}, "the value 'lion' is refused"),
    ],
)
def test_a_value_the_params_or_the_model_refuse_is_one_error_before_any_trial(space: dict, says: str) -> None:
    params = parse_params(_params(space))  # the schema takes it: only the study's own checks refuse it
    with pytest.raises(ParamsError) as caught:
        tuned_space(params, "cnn")
    assert f"tune.space.{next(iter(space))}" in str(caught.value) and says in str(caught.value)


def test_values_go_into_a_copy_and_into_the_exp_run_command() -> None:
    params = load_yaml(REPO / "params.yaml")
    values = {"models.cnn.lr": 0.0031415926535, "models.cnn.args.dropout": 0.25, "train.mixup": 0.2}
    changed = with_values(params, values)
    assert changed["models"]["cnn"]["lr"] == 0.0031415926535
    assert changed["train"]["mixup"] == 0.2 and params["train"]["mixup"] == 0.0
    assert exp_run_flags({**values, "train.augment.flip": False}, "cnn", params) == [
        "-S", "models.cnn.lr=0.0031415926535",
        "-S", "models.cnn.args.dropout=0.25",
        "-S", "+models.cnn.mixup=0.2",  # the trials trained cnn alone with it: the rerun changes no other model
        "-S", "+models.cnn.augment.flip=false",  # + adds a key params.yaml lacks (DVC's -S is Hydra's syntax)
    ]  # fmt: skip
