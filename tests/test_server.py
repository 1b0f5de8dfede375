"""`ferpipe server`: the mlflow server command line, with the database password kept out of the logs."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.server import redact, server_command


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://team:s3cr3t@db.lan:5432/mlflow") == "postgresql://team:***@db.lan:5432/mlflow"
    assert redact("postgresql://team@db.lan/mlflow") == "postgresql://team@db.lan/mlflow"


def test_the_server_serves_artifacts_from_the_given_destination() -> None:
    cmd = server_command("postgresql://x@h/db", "s3://bucket/mlflow", "127.0.0.1", 5001, 2)
    assert cmd[cmd.index("--backend-store-uri") + 1] == "postgresql://x@h/db"
    assert "--serve-artifacts" in cmd and cmd[cmd.index("--artifacts-destination") + 1] == "s3://bucket/mlflow"


def test_ferpipe_server_never_prints_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: started.append(cmd) or 0)
    monkeypatch.setenv("FERPIPE_BACKEND_STORE_URI", "postgresql://team:s3cr3t@db.lan/mlflow")
    result = CliRunner().invoke(app, ["server", "--port", "5001"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t" not in result.output and "postgresql://team:***@db.lan/mlflow" in result.output
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:5001" in result.output
    assert started and "postgresql://team:s3cr3t@db.lan/mlflow" in started[0]
