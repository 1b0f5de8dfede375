"""MLflow plumbing: the store lives in the project root, runs carry DVC and git tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferpipe import tracking


def test_default_store_is_sqlite_in_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri(tmp_path) == "http://127.0.0.1:5999"


def test_tags_name_the_stage_commit_and_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_STAGE", "train@cnn")
    monkeypatch.setenv("DVC_EXP_NAME", "brave-newt")
    tags = tracking.run_tags(tmp_path, {"mlflow": {"experiment": "ferpipe"}}, "abc123")
    assert tags["dvc.stage"] == "train@cnn" and tags["dvc.exp_name"] == "brave-newt"
    assert tags["data.hash"] == "abc123" and tags["git.commit"] == "unknown"
    assert tags["leaky"] == "false" and "ferpipe.leaks" not in tags
    leaky = {"mlflow": {"experiment": "ferpipe"}, "balance": {"scope": "before_split"}, "audit": {"policy": "keep"}}
    tags = tracking.run_tags(tmp_path, leaky, "abc123")
    assert tags["leaky"] == "true" and tags["ferpipe.leaks"] == "balance.scope=before_split; audit.policy=keep"


def test_flatten_dots_nested_params() -> None:
    assert tracking.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


def test_runs_reopen_by_id_and_artifacts_stay_in_the_root(tmp_path: Path, monkeypatch) -> None:
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    experiment_id = tracking.configure("unit", tmp_path)
    assert mlflow.get_experiment(experiment_id).artifact_location == (tmp_path / "mlruns").resolve().as_uri()
    with tracking.open_run(run_name="m", tags={"k": "v"}) as run:
        mlflow.log_metric("train/loss", 1.0)
        run_id = run.info.run_id
    with tracking.open_run(run_id=run_id, tags={"k": "overwritten?", "new": "added"}):
        mlflow.log_metric("test/accuracy", 0.5)
    with tracking.open_run(run_id="0" * 32, run_name="fresh") as other:  # unknown id: a new run
        assert other.info.run_id != run_id
    data = mlflow.get_run(run_id).data
    assert (
        data.metrics == {"train/loss": 1.0, "test/accuracy": 0.5}
        and data.tags["k"] == "v"
        and data.tags["new"] == "added"
    )
    assert (tmp_path / "mlflow.db").exists()


def test_a_closed_tracking_port_fails_fast_naming_the_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(ValueError, match=rf"http://127\.0\.0\.1:{port} is unreachable"):
        tracking.configure("unit", tmp_path)  # not MLflow's minutes of retries
