"""Compare FER+'s label schemes at one budget on the built-in FER+ twin: the same faces, model,
seed and epochs, trained on each scheme's targets and scored on the same majority-labelled test rows.

    .venv/bin/python scripts/ferplus_schemes.py [--epochs 6]

The twin's annotators vote for the drawn expression with an agreement of 35-95%, so a scheme's
gain here says how it copes with ambiguous faces, not what it gains on the real FER+.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from ferpipe.choices import FERPLUS_SCHEMES
from ferpipe.data.dataset import load_split, save_prepared
from ferpipe.data.prepare import prepare
from ferpipe.models import create_model
from ferpipe.models.inference import predict_logits
from ferpipe.sources import materialise
from ferpipe.train.config import TrainConfig
from ferpipe.train.loop import fit
from ferpipe.train.state import seed_everything

TWIN = {"kind": "synthetic", "layout": "fer2013_csv", "seed": 2013, "label_noise": 0.05, "votes": True,
        "counts": {"Training": 3500, "PublicTest": 500, "PrivateTest": 500}}  # fmt: skip
USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def main(epochs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        materialise("fer2013", TWIN, raw, raw)
        print(f"{'scheme':<13} {'train rows':>10} {'val acc':>8} {'test acc':>8}")
        for scheme in FERPLUS_SCHEMES:
            read = {"format": "fer2013_csv", "role": "primary", "votes": True, "votes_scheme": scheme}
            prepared = prepare({"fer2013": {"read": read}}, raw, {"usage_map": USAGE})
            folder = Path(tmp) / scheme
            save_prepared(folder, prepared.images, prepared.manifest)
            train, val, test = (load_split(folder, s) for s in ("train", "val", "test"))
            seed_everything(0)
            model = create_model("simple_cnn", widths=[32, 64, 128])
            cfg = TrainConfig(epochs=epochs, lr=3.0e-3, schedule={"name": "onecycle"}, patience=epochs)
            result = fit(model, train, val, cfg, device=torch.device("cpu"))
            accuracy = float(np.mean(predict_logits(model, test.images).argmax(1) == test.labels))
            print(f"{scheme:<13} {len(train):>10} {result.best_val_accuracy:>8.4f} {accuracy:>8.4f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    main(parser.parse_args().epochs)
