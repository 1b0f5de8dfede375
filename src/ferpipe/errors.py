"""The error contract of every stage script and every ``ferpipe`` command, kept free of heavy imports."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(Exception):
    """Work stopped by SIGINT or SIGTERM after saving what a rerun needs to resume."""

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        super().__init__(f"{signal.Signals(signum).name}: {message}")


BAD_INPUT = (ValueError, FileNotFoundError, KeyError)  # each names the file, key or value at fault
STORE_HINTS = {  # what SQLite says about the MLflow store, and what a user can do about it
    "database is locked": "another process is writing to it; wait for it to finish, or share a tracking server",
    "malformed": "the file is damaged, perhaps a copy cut short; move it aside to start a new store",
    "not a database": "the file is not an SQLite database; move it aside to start a new store",
    "unable to open": "the file or its folder cannot be opened; check that it exists and is writable",
    "disk i/o error": "the disk failed to read or write it",
}


def store_error(exc: BaseException) -> str | None:
    """One line for a failure of the tracking store's database (SQLAlchemy and sqlite3 errors, also
    when MLflow wraps them), or None for any other exception."""
    seen = exc
    while seen is not None:
        module = type(seen).__module__
        if module.startswith("sqlalchemy") or module == "sqlite3":
            first = str(getattr(seen, "orig", None) or seen).splitlines()[0]
            hint = next((h for key, h in STORE_HINTS.items() if key in first.lower()), "")
            mlflow = sys.modules.get("mlflow")
            where = f" {mlflow.get_tracking_uri()}" if mlflow is not None else ""
            return f"the MLflow store{where} failed: {first}" + (f" ({hint})" if hint else "")
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Bad input exits 1 with one ``error:`` line, never a traceback; work stopped by a signal exits
    128 + the signal number (the shell's convention) after saying where its checkpoint is."""
    try:
        yield
    except BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    except Interrupted as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        raise SystemExit(128 + exc.signum) from exc
    except Exception as exc:  # a failing tracking store; anything else keeps its traceback
        message = store_error(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from exc
