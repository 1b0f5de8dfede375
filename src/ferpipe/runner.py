"""What every stage script shares: load params once, run, and turn known errors into one line."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ferpipe.config import Paths, load_params
from ferpipe.errors import Interrupted


def run_stage(fn: Callable[..., None], *args: str) -> None:
    """Call ``fn(*args, params=..., paths=...)``; bad input exits 1 with a message, not a traceback.

    A training stage stopped by SIGINT/SIGTERM exits 128 + the signal number, the shell's
    convention, after its checkpoint is written.
    """
    try:
        fn(*args, params=load_params(), paths=Paths())
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    except Interrupted as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        raise SystemExit(128 + exc.signum) from exc
