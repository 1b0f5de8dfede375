"""The registry rule: a new version is the challenger; @champion moves only for a better one on the same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferpipe.tracking import registry

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


LABELS = np.arange(400) % 7  # the validation faces every version is scored on


def _register(client, val: float, data: str, predicted: np.ndarray | None = None, rule: str = "any_gain") -> str:
    """A version scored ``val`` on ``data``, registered and settled as the ensemble stage does; with
    ``predicted``, its validation predictions kept beside it as registration keeps them."""
    import tempfile

    import mlflow

    source = "file:///nowhere"
    if predicted is not None:
        experiment = mlflow.get_experiment_by_name("registry") or mlflow.get_experiment(
            mlflow.create_experiment("registry")
        )  # this store's own: another test may have left another store's experiment active
        model = mlflow.initialize_logged_model(name="classifier", experiment_id=experiment.experiment_id)
        with tempfile.TemporaryDirectory() as folder:
            np.save(Path(folder) / registry.VAL_PREDICTIONS, predicted.astype(np.int8))
            client.log_model_artifact(model.model_id, str(Path(folder) / registry.VAL_PREDICTIONS))
        source = f"models:/{model.model_id}"
    version = client.create_model_version(NAME, source=source).version
    client.set_model_version_tag(NAME, version, registry.VAL_TAG, f"{val:.6f}")
    client.set_model_version_tag(NAME, version, registry.DATA_TAG, data)
    ours = predicted if predicted is not None else LABELS
    registry.settle(client, NAME, version, val, data, LABELS, ours, rule)
    return str(version)


def _fixing(predicted: np.ndarray, faces: int) -> np.ndarray:
    """``predicted`` with ``faces`` more validation faces right."""
    better = predicted.copy()
    wrong = np.flatnonzero(better != LABELS)[:faces]
    better[wrong] = LABELS[wrong]
    return better


@pytest.mark.parametrize("rule", ["any_gain", "beyond_noise"])
def test_the_champion_rule_pairs_the_validation_faces_and_can_ask_for_a_gain_beyond_noise(client, rule) -> None:
    base = np.where(np.arange(400) % 5 == 0, (LABELS + 1) % 7, LABELS)  # 80% right
    first = _register(client, 0.80, "d1", base, rule)
    small = _fixing(base, 2)  # +0.5 points: within noise
    second = _register(client, float((small == LABELS).mean()), "d1", small, rule)
    version = client.get_model_version(NAME, second)
    assert version.tags[registry.NOISE_TAG] == "false" and "within noise" in version.tags[registry.GAIN_TAG]
    assert _alias(client, "champion") == (second if rule == "any_gain" else first)
    big = _fixing(small, 40)  # +10 points: beyond noise
    third = _register(client, float((big == LABELS).mean()), "d1", big, rule)
    assert client.get_model_version(NAME, third).tags[registry.NOISE_TAG] == "true"
    assert _alias(client, "champion") == third
    if rule == "beyond_noise":
        decision = registry.decide(0.9, "d1", client.get_model_version(NAME, first), None, rule)
        assert (
            not decision.promote and "not beyond noise" in decision.reason and "no stored validation" in decision.reason
        )


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
