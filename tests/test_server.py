"""`ferpipe server`: the mlflow server command line, with every password kept off it and out of the logs;
the names teammates use answered; a login required once it listens beyond this machine."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.tracking.server import ServerSettings, redact, server_command, server_environment


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://team:s3cr3t@db.lan:5432/mlflow") == "postgresql://team:***@db.lan:5432/mlflow"
    assert redact("postgresql://team@db.lan/mlflow") == "postgresql://team@db.lan/mlflow"


def test_the_server_serves_artifacts_from_the_given_destination() -> None:
    cmd = server_command(ServerSettings("postgresql://x@h/db", "s3://bucket/mlflow", "127.0.0.1", 5001, 2))
    assert cmd[cmd.index("--backend-store-uri") + 1] == "postgresql://x@h/db"
    assert "--serve-artifacts" in cmd and cmd[cmd.index("--artifacts-destination") + 1] == "s3://bucket/mlflow"


def test_teammates_names_and_this_machines_are_allowed_hosts_besides_mlflows_defaults() -> None:
    settings = ServerSettings(host="0.0.0.0", allowed_hosts=("mlflow.lan",), cors_allowed_origins="https://nb.lan")
    cmd = server_command(settings)
    hosts = cmd[cmd.index("--allowed-hosts") + 1].split(",")
    assert {"mlflow.lan", "mlflow.lan:*", socket.gethostname(), f"{socket.gethostname()}:*"} <= set(hosts)
    assert "localhost:*" in hosts and any(h.startswith("192.168.") for h in hosts)  # MLflow's own defaults stay
    assert "*" not in hosts
    assert cmd[cmd.index("--cors-allowed-origins") + 1] == "https://nb.lan"


def test_a_login_is_required_beyond_localhost_and_the_password_never_reaches_the_command_line(tmp_path: Path) -> None:
    local, team = ServerSettings(host="127.0.0.1"), ServerSettings(host="0.0.0.0", auth_database_uri="sqlite:///a.db")
    assert "--app-name" not in server_command(local) and not local.authenticated
    assert server_command(team)[-2:] == ["--app-name", "basic-auth"]
    with pytest.raises(ValueError, match="needs an admin password: set MLFLOW_AUTH_ADMIN_PASSWORD"):
        server_environment(team, tmp_path, environ={})
    env = server_environment(team, tmp_path, environ={"MLFLOW_AUTH_ADMIN_PASSWORD": "pw-from-env-123"})
    config = Path(env["MLFLOW_AUTH_CONFIG_PATH"])
    assert config.stat().st_mode & 0o077 == 0 and "pw-from-env" not in config.read_text()
    assert "default_permission = READ" in config.read_text() and "database_uri = sqlite:///a.db" in config.read_text()
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] and env["MLFLOW_AUTH_ADMIN_USERNAME"] == "admin"
    assert not any("pw-from-env" in part for part in server_command(team))
    secret = tmp_path / "admin.pw"
    secret.write_text("pw-from-file-456\n")
    secret.chmod(0o644)
    with pytest.raises(ValueError, match=r"admin\.pw: readable by others"):
        server_environment(team, tmp_path, secret, environ={})
    secret.chmod(0o600)
    assert server_environment(team, tmp_path, secret, environ={})["MLFLOW_AUTH_ADMIN_PASSWORD"] == "pw-from-file-456"
    assert server_environment(ServerSettings(host="0.0.0.0", auth=False), tmp_path, environ={}) == {}


def test_ferpipe_server_never_prints_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env=None: started.append(cmd) or 0)
    monkeypatch.setenv("FERPIPE_BACKEND_STORE_URI", "postgresql://team:s3cr3t@db.lan/mlflow")
    result = CliRunner().invoke(app, ["server", "--port", "5001"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t" not in result.output and "postgresql://team:***@db.lan/mlflow" in result.output
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:5001" in result.output
    assert started and "postgresql://team:s3cr3t@db.lan/mlflow" in started[0]


def test_ferpipe_server_for_the_team_asks_for_logins_and_keeps_the_admin_password_to_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, env=None: started.append((cmd, env)) or 0)
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-secret-789")
    result = CliRunner().invoke(app, ["server", "--host", "0.0.0.0", "--allowed-hosts", "mlflow.lan"])
    assert result.exit_code == 0, result.output
    assert "login required" in result.output and "admin-secret-789" not in result.output
    cmd, env = started[0]
    assert "basic-auth" in cmd and "admin-secret-789" not in " ".join(cmd)
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "admin-secret-789"
    refused = CliRunner().invoke(app, ["server", "--host", "0.0.0.0"], env={"MLFLOW_AUTH_ADMIN_PASSWORD": ""})
    assert refused.exit_code == 1 and "needs an admin password" in refused.output


def test_the_load_test_targets_this_machine_only() -> None:
    from ferpipe.serving.loadtest import LoadOptions, run_load

    with pytest.raises(ValueError, match="only targets this machine"):
        run_load("http://10.0.0.5:5001", [], LoadOptions(seconds=0.1), lambda: 0)
