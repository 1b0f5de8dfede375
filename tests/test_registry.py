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


@pytest.mark.parametrize(
    ("second_val", "second_data", "champion"),
    [
        (0.824, "d1", "first"),  # worse on the same data: stays challenger
        (0.868, "d1", "first"),  # a tie does not move the champion
        (0.900, "d1", "second"),  # better on the same data: becomes champion
        (0.950, "synthetic", "first"),  # a better number on other data is not comparable
    ],
)
def test_a_second_version_is_challenger_and_champion_only_when_better_on_the_same_data(
    client, second_val: float, second_data: str, champion: str
) -> None:
    versions = {"first": _register(client, 0.868, "d1"), "second": _register(client, second_val, second_data)}
    assert _alias(client, "challenger") == versions["second"]
    assert _alias(client, "champion") == versions[champion]


def test_other_data_is_said_to_be_incomparable(client) -> None:
    _register(client, 0.60, "real-data")
    decision = registry.decide(0.95, "synthetic", client.get_model_version_by_alias(NAME, "champion"))
    assert not decision.promote and "other data" in decision.reason


def test_promote_is_a_persons_decision(client) -> None:
    _register(client, 0.868, "d1")
    worse = _register(client, 0.824, "d1")
    assert str(registry.promote(client, NAME, worse).version) == worse
    assert _alias(client, "champion") == worse
    with pytest.raises(ValueError, match="no version '99'"):
        registry.promote(client, NAME, "99")
