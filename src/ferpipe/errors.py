"""Exceptions every stage script understands, kept free of heavy imports."""

from __future__ import annotations

import signal


class Interrupted(Exception):
    """Work stopped by SIGINT or SIGTERM after saving what a rerun needs to resume."""

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        super().__init__(f"{signal.Signals(signum).name}: {message}")
