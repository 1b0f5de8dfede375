"""Training faults: a diverging loss stops with the last good checkpoint kept; SIGTERM mid-epoch
checkpoints, exits 143, and the rerun resumes to exactly the uninterrupted result."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ferpipe.data.dataset import Split
from ferpipe.models import create_model
from ferpipe.train.augment import AugmentConfig
from ferpipe.train.config import TrainConfig
from ferpipe.train.loop import TrainingDiverged, fit
from tests.conftest import write_params

QUIET = AugmentConfig(flip=False, max_rotation_deg=0.0, max_shift=0.0, scale_range=(1.0, 1.0))


def _split(seed: int, n: int) -> Split:
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n))


class PoisonedAfter(nn.Module):
    """A model whose training outputs turn to NaN after ``good`` forward passes."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.inner, self.good, self.calls = create_model("logreg"), good, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls > self.good:
                return out * float("nan")
        return out


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "last.pt"
    config = TrainConfig(epochs=5, batch_size=32, patience=10, augment=QUIET)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 2, batch 1; the checkpoint of epoch 1 is kept"):
        fit(PoisonedAfter(good=4), _split(0, 128), _split(1, 32), config, checkpoint=checkpoint, fingerprint="f")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1


TRAIN_SCRIPT = """
import sys, numpy as np, torch
from ferpipe.data.dataset import Split
from ferpipe.models import create_model
from ferpipe.runner import run_stage
from ferpipe.train.augment import AugmentConfig
from ferpipe.train.config import TrainConfig
from ferpipe.train.loop import fit

def split(seed, n):
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n))

def train(params, paths):
    torch.manual_seed(0)
    model = create_model("simple_cnn", widths=(8, 16, 16), dropout=0.2)
    config = TrainConfig(epochs=3, batch_size=16, patience=10, lr=1.0e-3)
    result = fit(model, split(0, 2400), split(1, 64), config, checkpoint=paths.root / sys.argv[1], fingerprint="kill")
    rows = [{k: v for k, v in row.items() if k not in ("epoch_seconds", "images_per_second")} for row in result.history]
    torch.save({"state": model.state_dict(), "history": rows}, paths.root / sys.argv[2])

run_stage(train)
"""


def _start(root: Path, checkpoint: str, out: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_SCRIPT, checkpoint, out],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_mid_epoch_checkpoints_and_the_rerun_resumes_exactly(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    write_params(tmp_path)
    killed = _start(tmp_path, "interrupted.pt", "interrupted_out.pt")
    assert killed.stdout is not None
    for line in killed.stdout:  # epoch 1 done: the signal lands in epoch 2
        if line.startswith("epoch 1:"):
            break
    time.sleep(0.5)
    killed.send_signal(signal.SIGTERM)
    _, err = killed.communicate(timeout=120)
    assert killed.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "SIGTERM: training stopped at epoch" in err and (tmp_path / "interrupted.pt").exists()
    assert not (tmp_path / "interrupted_out.pt").exists()

    resumed = _start(tmp_path, "interrupted.pt", "interrupted_out.pt")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert "resuming after epoch" in out

    straight = _start(tmp_path, "straight.pt", "straight_out.pt")
    _, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err[-2000:]

    a = torch.load(tmp_path / "interrupted_out.pt", weights_only=True)
    b = torch.load(tmp_path / "straight_out.pt", weights_only=True)
    assert a["history"] == b["history"]
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in b["state"])
