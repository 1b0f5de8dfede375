"""``ferpipe server``: a shared MLflow tracking server on PostgreSQL that serves artifacts itself.

Clients only need ``MLFLOW_TRACKING_URI=http://<host>:<port>`` (and, behind authentication,
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``): runs and registry live in the
database, artifacts go through the server (``--serve-artifacts``) to a folder or S3 bucket, so
team members need no database or bucket credentials of their own.

Two things MLflow's defaults get wrong for a team on a LAN, set here:

- **Host names.** MLflow 3 answers 403 ("Invalid Host header") to a request whose ``Host`` is a
  name it does not know, so teammates on ``http://mlflow.lan:5000`` were all refused. This
  machine's own names are allowed by default; ``--allowed-hosts`` adds the names teammates use.
- **Who may write.** Bound beyond this machine, the server runs MLflow's basic-auth app: every
  request needs a user, and users get ``--default-permission`` (READ by default) on what others
  created. The admin's password comes from ``MLFLOW_AUTH_ADMIN_PASSWORD`` or a file, never the
  command line or a log.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_BACKEND = "postgresql://mlflow@127.0.0.1:5432/mlflow"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")  # MLflow's basic-auth permission names
ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"  # MLflow's own variable, read by its auth app
ADMIN_USERNAME_ENV = "MLFLOW_AUTH_ADMIN_USERNAME"
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # the auth app's CSRF key, shared by its workers


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``ferpipe server`` starts ``mlflow server`` with."""

    backend_store_uri: str = DEFAULT_BACKEND
    artifacts_destination: str = "mlartifacts"
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 2
    allowed_hosts: tuple[str, ...] = ()  # names teammates reach the server by, beyond this machine's own
    cors_allowed_origins: str | None = None
    auth: bool | None = None  # None: on whenever the server binds beyond this machine
    auth_database_uri: str = field(default_factory=lambda: f"sqlite:///{Path('mlflow_auth.db').resolve()}")
    default_permission: str = "READ"

    @property
    def authenticated(self) -> bool:
        return self.auth if self.auth is not None else self.host not in LOOPBACK


def redact(uri: str) -> str:
    """The URI with any password replaced, fit for logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def allowed_hosts(settings: ServerSettings) -> list[str]:
    """Host headers the server answers: MLflow's defaults (localhost, private addresses), this
    machine's own names, and the ones the team uses (``--allowed-hosts``), each with any port."""
    from mlflow.server.security_utils import get_default_allowed_hosts

    names = [socket.gethostname(), socket.getfqdn(), *settings.allowed_hosts]
    if settings.host not in ("0.0.0.0", "::", *LOOPBACK):
        names.append(settings.host)
    ours = [pattern for name in dict.fromkeys(n for n in names if n) for pattern in (name, f"{name}:*")]
    return list(dict.fromkeys([*get_default_allowed_hosts(), *ours]))


def server_command(settings: ServerSettings) -> list[str]:
    """The ``mlflow server`` command line (no secret on it: those travel in the environment)."""
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.backend_store_uri]
    cmd += ["--serve-artifacts", "--artifacts-destination", settings.artifacts_destination]
    cmd += ["--host", settings.host, "--port", str(settings.port), "--workers", str(settings.workers)]
    cmd += ["--allowed-hosts", ",".join(allowed_hosts(settings))]
    if settings.cors_allowed_origins:
        cmd += ["--cors-allowed-origins", settings.cors_allowed_origins]
    if settings.authenticated:
        cmd += ["--app-name", "basic-auth"]
    return cmd


def read_admin_password(password_file: Path | None, environ: dict[str, str]) -> str:
    """The admin's password: from ``password_file`` (readable by its owner alone) or the environment."""
    if password_file is not None:
        mode = password_file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(f"{password_file}: readable by others (mode {stat.filemode(mode)}); chmod 600 it")
        password = password_file.read_text(encoding="utf-8").strip()
        if not password:
            raise ValueError(f"{password_file}: empty; write the admin's password in it")
        return password
    password = environ.get(ADMIN_PASSWORD_ENV, "")
    if not password:
        raise ValueError(
            f"a server reachable beyond this machine needs an admin password: set {ADMIN_PASSWORD_ENV} "
            "or pass --admin-password-file (or --no-auth on a network you trust)"
        )
    return password


def write_auth_config(settings: ServerSettings, folder: Path) -> Path:
    """MLflow's basic-auth settings file (owner-only), without the password (that is in the environment)."""
    config = folder / "mlflow_basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        f"default_permission = {settings.default_permission}\n"
        f"database_uri = {settings.auth_database_uri}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def server_environment(
    settings: ServerSettings, folder: Path, password_file: Path | None = None, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment ``mlflow server`` runs in: the auth app's settings, admin and CSRF key included."""
    env = dict(os.environ if environ is None else environ)
    if not settings.authenticated:
        return env
    if settings.default_permission not in PERMISSIONS:
        raise ValueError(
            f"--default-permission {settings.default_permission!r}: choose one of {', '.join(PERMISSIONS)}"
        )
    env[ADMIN_PASSWORD_ENV] = read_admin_password(password_file, env)
    env.setdefault(ADMIN_USERNAME_ENV, "admin")
    env.setdefault(SECRET_KEY_ENV, secrets.token_hex(32))
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(write_auth_config(settings, folder))
    return env
