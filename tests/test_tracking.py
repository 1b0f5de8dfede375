"""MLflow plumbing: the store lives in the project root, runs carry DVC and git tags."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from ferpipe import tracking
from tests.conftest import params_of


def test_default_store_is_sqlite_in_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri(tmp_path) == "http://127.0.0.1:5999"


def test_tags_name_the_stage_commit_and_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_STAGE", "train@cnn")
    monkeypatch.setenv("DVC_EXP_NAME", "brave-newt")
    tags = tracking.run_tags(tmp_path, tracking.TrackingSettings.of(params_of()), "abc123")
    assert tags["dvc.stage"] == "train@cnn" and tags["dvc.exp_name"] == "brave-newt"
    assert tags["data.hash"] == "abc123" and tags["git.commit"] == "unknown"
    assert tags["leaky"] == "false" and "ferpipe.leaks" not in tags
    leaky = params_of(balance={"scope": "before_split"}, audit={"policy": "keep"})
    tags = tracking.run_tags(tmp_path, tracking.TrackingSettings.of(leaky), "abc123")
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


@pytest.mark.parametrize(("files", "expected"), [({}, r"HTTP 404 at /version"), ({"version": "<html>"}, r"'<html>'")])
def test_a_web_server_that_is_not_mlflow_is_named_as_such(tmp_path: Path, monkeypatch, files, expected) -> None:
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    site.mkdir()
    for name, text in files.items():
        (site / name).write_text(text)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        with pytest.raises(ValueError, match=rf"{re.escape(uri)} is not an MLflow tracking server .*{expected}"):
            tracking.configure("unit", tmp_path)
    finally:
        server.shutdown()


def _answering(replies: list[tuple[int, str]], delay: float = 0.0):
    """A local HTTP server that answers /version with each (status, body) in turn, the last one for ever."""
    import http.server
    import threading
    import time

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            time.sleep(delay)
            status, body = replies[min(len(seen), len(replies)) - 1]
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", seen


def test_the_check_retries_and_waits_as_mlflow_s_own_settings_say(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLFLOW_HTTP_REQUEST_MAX_RETRIES and _TIMEOUT back the check (MLflow's client does the request);
    unset, the check neither retries nor waits long, so a stage speaks up within seconds."""
    import time

    server, uri, seen = _answering([(503, "busy"), (503, "busy"), (200, "3.17.0")])
    try:
        monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
        with pytest.raises(ValueError, match=rf"{re.escape(uri)} is not an MLflow tracking server \(HTTP 503"):
            tracking.check_reachable(uri)
        assert len(seen) == 1
        seen.clear()
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
        tracking.check_reachable(uri)  # retried past the two 503s
        assert len(seen) == 3
    finally:
        server.shutdown()
    slow, uri, _ = _answering([(200, "3.17.0")], delay=30.0)
    try:
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
        began = time.monotonic()
        with pytest.raises(ValueError, match=rf"MLflow tracking server {re.escape(uri)} is unreachable"):
            tracking.check_reachable(uri)
        assert time.monotonic() - began < 10
    finally:
        slow.shutdown()


def test_a_resumed_child_brings_its_pipeline_run_back_to_finished(tmp_path: Path, monkeypatch) -> None:
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    experiment_id = tracking.configure("unit", tmp_path)
    parent = mlflow.MlflowClient().create_run(experiment_id, run_name="pipeline").info.run_id
    with pytest.raises(KeyboardInterrupt), tracking.open_run(run_name="cnn", parent_run_id=parent) as run:
        child = run.info.run_id
        raise KeyboardInterrupt  # the first `dvc repro`, stopped mid-training
    assert mlflow.get_run(parent).info.status == "FAILED"
    with tracking.open_run(run_id=child):  # the rerun resumes the same run
        pass
    assert mlflow.get_run(parent).info.status == "FINISHED"
    assert mlflow.get_run(child).data.tags[tracking.PARENT_TAG] == parent


def test_a_deleted_experiment_and_a_broken_store_are_one_line_each(tmp_path: Path, monkeypatch) -> None:
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    experiment_id = tracking.configure("gone", tmp_path)
    mlflow.MlflowClient().delete_experiment(experiment_id)
    with pytest.raises(ValueError, match=rf"experiment 'gone' \(id {experiment_id}\) is deleted .*restore"):
        tracking.configure("gone", tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "mlflow.db").write_text("not a database")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri exported it
    with pytest.raises(ValueError, match=r"broken/mlflow\.db: the MLflow store is not an SQLite database"):
        tracking.configure("x", broken)


def test_a_store_cut_short_or_damaged_inside_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    from ferpipe.errors import one_line_errors

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure("whole", tmp_path)
    store = (tmp_path / "mlflow.db").read_bytes()
    cut, damaged = tmp_path / "cut", tmp_path / "damaged"
    cut.mkdir()
    damaged.mkdir()
    (cut / "mlflow.db").write_bytes(store[: len(store) // 2])  # a copy that stopped half way
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri exported it
    with pytest.raises(ValueError, match=rf"cut/mlflow\.db: the MLflow store is cut short \({len(store) // 2:,} of"):
        tracking.configure("x", cut)
    page = 4096  # the header stays whole; the tables behind it are overwritten
    (damaged / "mlflow.db").write_bytes(store[: 3 * page] + b"\xff" * 20 * page + store[23 * page :])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(SystemExit) as stopped, one_line_errors():
        tracking.connect(damaged)
        mlflow.MlflowClient().search_registered_models()
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.match(
        r"error: the MLflow store sqlite:///.*damaged/mlflow\.db failed: database disk image is malformed", err
    )


def test_a_locked_store_is_one_line_saying_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    """SQLAlchemy's error as MLflow raises it (wrapped, with the SQL), after SQLite's busy wait."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from ferpipe.errors import one_line_errors

    locked = OperationalError("SELECT name FROM sqlite_master", {}, sqlite3.OperationalError("database is locked"))
    with pytest.raises(SystemExit), one_line_errors():
        try:
            raise locked
        except OperationalError as exc:
            raise RuntimeError("MLflow wrapped it") from exc
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "failed: database is locked (another process is writing to it" in err
    with pytest.raises(TypeError), one_line_errors():  # any other failure keeps its traceback
        raise TypeError("a bug, not a store")


def test_every_command_turns_bad_input_into_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ferpipe runs` against a closed port: the tracking check's ValueError, as one `error:` line."""
    from typer.testing import CliRunner

    from ferpipe.cli import app
    from tests.conftest import write_params

    write_params(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["runs"])
    assert (result.exit_code == 1 and result.exception is None) or isinstance(result.exception, SystemExit)
    assert result.output.startswith("error: MLflow tracking server http://127.0.0.1:9 is unreachable")
    assert len(result.output.strip().splitlines()) == 1


def test_quiet_mlflow_drops_info_lines_and_hides_no_warning() -> None:
    """Nothing MLflow warns about is filtered any more (the classifier is a model from code, so its
    advice against pickled models no longer comes up); only its INFO chatter is lowered."""
    tracking.quiet_mlflow()
    pyfunc = logging.getLogger("mlflow.pyfunc")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage()[:7])  # type: ignore[method-assign]
    pyfunc.addHandler(handler)
    try:
        pyfunc.info("system metrics logging started")
        pyfunc.warning("Passing a Python object as `python_model` causes it to be serialized using CloudPickle")
    finally:
        pyfunc.removeHandler(handler)
    assert not pyfunc.filters and seen == ["Passing"]


def test_mlflow_s_system_metrics_can_read_the_gpu_through_nvml() -> None:
    """nvidia-ml-py is a dependency, so MLflow's GPU monitor is never skipped for want of it: on a GPU
    it reports utilisation and memory; here, without a driver, it stops at NVML itself."""
    import sys

    import torch
    from mlflow.system_metrics.metrics import gpu_monitor

    assert "pynvml" in sys.modules
    if torch.cuda.is_available():
        monitor = gpu_monitor.GPUMonitor()
        monitor.collect_metrics()
        assert {"gpu_0_utilization_percentage", "gpu_0_memory_usage_megabytes"} <= set(monitor.metrics)
    else:
        with pytest.raises(RuntimeError, match="Failed to initialize NVML"):
            gpu_monitor.GPUMonitor()
