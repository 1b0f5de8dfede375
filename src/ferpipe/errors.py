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
