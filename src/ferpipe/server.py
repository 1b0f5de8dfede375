"""``ferpipe server``: a shared MLflow tracking server on PostgreSQL that serves artifacts itself.

Clients only need ``MLFLOW_TRACKING_URI=http://<host>:<port>``: runs and registry live in the
database, artifacts go through the server (``--serve-artifacts``) to a folder or S3 bucket,
so team members need no database or bucket credentials of their own.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit, urlunsplit

DEFAULT_BACKEND = "postgresql://mlflow@127.0.0.1:5432/mlflow"


def redact(uri: str) -> str:
    """The URI with any password replaced, fit for logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def server_command(backend_store_uri: str, artifacts_destination: str, host: str, port: int, workers: int) -> list[str]:
    """The ``mlflow server`` command line."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts_destination,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
