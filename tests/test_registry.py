"""The registry rule: a new version is the challenger; @champion moves only for a better one on the same data."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferpipe import registry

NAME = "ferpipe"


@pytest.fixture
def client(tmp_path: Path):
    """A registry in a throwaway sqlite store, with the registered model created."""
    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    client.create_registered_model(NAME)
    yield client
    mlflow.set_tracking_uri(before)


def _register(client, val: float, data: str) -> str:
    """A version scored ``val`` on ``data``, registered and settled as the ensemble stage does."""
    version = client.create_model_version(NAME, source="file:///nowhere").version
    client.set_model_version_tag(NAME, version, registry.VAL_TAG, f"{val:.6f}")
    client.set_model_version_tag(NAME, version, registry.DATA_TAG, data)
    registry.settle(client, NAME, version, val, data)
    return str(version)


def _alias(client, alias: str) -> str:
    return str(client.get_model_version_by_alias(NAME, alias).version)


def test_the_first_version_is_champion_and_challenger(client) -> None:
    first = _register(client, 0.80, "d1")
    assert _alias(client, "champion") == first == _alias(client, "challenger")


def test_a_worse_version_on_the_same_data_stays_challenger(client) -> None:
    first = _register(client, 0.868, "d1")
    worse = _register(client, 0.824, "d1")
    assert _alias(client, "champion") == first and _alias(client, "challenger") == worse


def test_a_tie_does_not_move_the_champion(client) -> None:
    first = _register(client, 0.868, "d1")
    _register(client, 0.868, "d1")
    assert _alias(client, "champion") == first


def test_a_better_version_on_the_same_data_becomes_champion(client) -> None:
    _register(client, 0.80, "d1")
    better = _register(client, 0.85, "d1")
    assert _alias(client, "champion") == better == _alias(client, "challenger")


def test_a_better_number_on_other_data_is_not_comparable(client) -> None:
    first = _register(client, 0.60, "real-data")
    other = _register(client, 0.95, "synthetic")
    assert _alias(client, "champion") == first and _alias(client, "challenger") == other
    decision = registry.decide(0.95, "synthetic", client.get_model_version_by_alias(NAME, "champion"))
    assert not decision.promote and "other data" in decision.reason


def test_promote_is_a_persons_decision(client) -> None:
    _register(client, 0.868, "d1")
    worse = _register(client, 0.824, "d1")
    assert str(registry.promote(client, NAME, worse).version) == worse
    assert _alias(client, "champion") == worse
    with pytest.raises(ValueError, match="no version '99'"):
        registry.promote(client, NAME, "99")


def test_the_description_says_what_data_and_how_it_did() -> None:
    text = registry.describe_version(
        "ensemble_weighted",
        ["cnn", "hog_svm"],
        "weighted",
        {"val_accuracy": 0.87, "test_accuracy": 0.86, "test_macro_f1": 0.79},
        {registry.DATA_TAG: "abc123", "git.commit": "f" * 40, "leaky": "false"},
    )
    assert "ensemble (weighted) of cnn, hog_svm" in text and "abc123" in text and "0.8700" in text
    assert "LEAKY" not in text
