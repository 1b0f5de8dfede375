"""Real services for the integration tests: a PostgreSQL cluster and an ``mlflow server`` on 127.0.0.1.

Both start in a temporary folder and stop with the test module. PostgreSQL comes from the
Debian package (``.ci/run`` installs it); where it is missing or will not start, the tests
that need it skip and say why.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ferpipe.tracking.server import ServerSettings, server_command, server_environment

DATABASE = "mlflow"


class Unavailable(RuntimeError):
    """A service could not be started here; the message says why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin() -> Path:
    """The folder of initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise Unavailable("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does it)")
    return Path(candidates[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh cluster listening on 127.0.0.1; yields the URI of an empty database for MLflow.

    Its folder is a new one under the system temp dir: the postgres user (when we are root)
    cannot enter pytest's private temp folders.
    """
    bindir = _postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="ferpipe-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, log, port = folder / "data", folder / "server.log", free_port()

    def tool(*cmd: str) -> None:
        done = subprocess.run(_as_postgres([str(bindir / cmd[0]), *cmd[1:]]), capture_output=True, text=True)
        if done.returncode != 0:
            detail = log.read_text()[-2000:] if log.exists() else ""
            raise Unavailable(f"{cmd[0]} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}{detail}")

    tool("initdb", "-D", str(data), "-U", DATABASE, "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    tool("pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
    try:
        tool("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", DATABASE, DATABASE)
        yield f"postgresql://{DATABASE}@127.0.0.1:{port}/{DATABASE}"
    finally:
        tool("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def mlflow_server(backend_store_uri: str, folder: Path, environment: dict[str, str], **options: Any) -> Iterator[str]:
    """``mlflow server`` as ``ferpipe server`` runs it, artifacts served from ``folder``; yields its URL.

    ``options`` are further :class:`ServerSettings` (``auth=True``, ``allowed_hosts=...``); with auth the
    admin's password is ``environment``'s ``MLFLOW_AUTH_ADMIN_PASSWORD``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = ServerSettings(
        backend_store_uri,
        str(folder / "artifacts"),
        "127.0.0.1",
        port,
        workers=2,
        auth_database_uri=f"sqlite:///{folder / 'auth.db'}",
        **options,
    )
    cmd = server_command(settings)
    environment = server_environment(settings, folder, environ=environment)
    log_path = folder / "mlflow-server.log"
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(cmd, env=environment, stdout=log, stderr=log, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2):
                        break
                except OSError as exc:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise Unavailable(f"mlflow server did not start: {log_path.read_text()[-3000:]}") from exc
                    time.sleep(1)
            yield url
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """Stop a server started in its own session, with the workers it forked."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
