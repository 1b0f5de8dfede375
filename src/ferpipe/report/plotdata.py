"""Long-format tables behind the cross-model ``dvc plots``: one file, a ``model`` (or ``set``)
column, and a custom template (``.dvc/plots/``) that colours by it. DVC itself can only put
several files on one chart when dvc.yaml names each of them, and the models come from params."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ferpipe.labels import CLASSES

DISTRIBUTION_SETS = {
    "train_before": "train, before balancing",
    "train_after": "train, after balancing",
    "val_untouched": "val",
    "test_untouched": "test",
    "test_after": "test, after balancing (a leaky protocol)",
}


def curves_long(curves_dir: Path, models: list[str]) -> pd.DataFrame:
    """Every model's per-epoch curves stacked, with a ``model`` column first."""
    files = {m: curves_dir / f"{m}.csv" for m in models}
    frames = [pd.read_csv(path).assign(model=m) for m, path in files.items() if path.exists()]
    if not frames:
        raise ValueError(f"{curves_dir}: no training curves for {', '.join(models)}")
    frame = pd.concat(frames, ignore_index=True)
    return frame[["model", *[c for c in frame.columns if c != "model"]]]


def class_distribution(balance_json: Path) -> pd.DataFrame:
    """Images per class in each set: training before and after balancing, validation, test."""
    balance = json.loads(balance_json.read_text())
    rows = [
        {"class": name, "set": label, "count": int(balance[key].get(name, 0))}
        for key, label in DISTRIBUTION_SETS.items()
        if key in balance
        for name in CLASSES
    ]
    return pd.DataFrame(rows, columns=["class", "set", "count"])
