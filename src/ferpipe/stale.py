"""The staleness check: do the committed results still match the committed code and params?

``dvc repro --dry --allow-missing`` lists the stages it would run without needing the data
(a fresh clone has none); any stage listed means dvc.lock and metrics/ were not reproduced
after the last change. DVC exits 0 either way, so the verdict is read from its output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

RUNNING = re.compile(r"^Running stage '([^']+)'", re.MULTILINE)


def stale_stages(root: Path) -> list[str]:
    """The stages ``dvc repro`` would rerun, data aside."""
    cmd = [sys.executable, "-m", "dvc", "repro", "--dry", "--allow-missing"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"`dvc repro --dry --allow-missing` failed in {root}: {done.stderr.strip()[-2000:]}")
    return RUNNING.findall(done.stdout)
