"""The ``train@<model>`` stage: fit one model, log it to MLflow, write weights and curves."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from ferpipe import tracking
from ferpipe.config import Paths
from ferpipe.data.dataset import IMAGES, load_saved_split, load_split
from ferpipe.io import atomic_dir, atomic_path, write_json
from ferpipe.models import count_parameters, create_model
from ferpipe.train.checkpoint import MODEL_FILE, save_model
from ferpipe.train.loop import TrainConfig, fit

# Per-epoch values worth committing: deterministic on CPU (timings go to MLflow only).
CURVE_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


def run_train(name: str, params: dict[str, Any], paths: Paths) -> None:
    """Train ``models.<name>`` on the balanced training split, validating on ``val``."""
    models = params.get("models", {})
    if name not in models:
        raise ValueError(f"params: no model {name!r} under 'models' (have: {', '.join(models)})")
    model_cfg = models[name]
    cfg = TrainConfig.from_params(params.get("train", {}), model_cfg)
    arch, args = model_cfg["arch"], dict(model_cfg.get("args") or {})
    train = load_saved_split(paths.balanced)
    val = load_split(paths.prepared, "val")
    model = create_model(arch, **args)

    import mlflow

    experiment = params["mlflow"]["experiment"]
    tracking.configure(experiment, paths.root)
    data_hash = tracking.file_hash(paths.balanced / IMAGES, paths.prepared / IMAGES)
    tags = {**tracking.run_tags(paths.root, experiment, data_hash), "ferpipe.model": name, "ferpipe.kind": "model"}
    with tracking.open_run(run_name=name, tags=tags) as run:
        mlflow.log_params(tracking.flatten({"arch": arch, "args": args, **asdict(cfg)}))
        mlflow.log_params({"n_parameters": count_parameters(model), "n_train": len(train), "n_val": len(val)})
        result = fit(
            model,
            train,
            val,
            cfg,
            on_epoch=lambda epoch, row: mlflow.log_metrics(
                {f"train/{k}" if k.startswith("train_") else k: v for k, v in row.items()}, step=epoch
            ),
        )
        mlflow.log_metrics({"best_epoch": result.best_epoch, "best_val_accuracy": result.best_val_accuracy})
        example = np.zeros((2, 1, 48, 48), dtype=np.float32)  # batch 2: keeps the batch dim dynamic
        mlflow.pytorch.log_model(model.cpu(), name="model", input_example=example)
        run_id = run.info.run_id

    with atomic_dir(paths.models / name) as folder:
        save_model(folder / MODEL_FILE, model, arch, args)
        (folder / tracking.RUN_ID_FILE).write_text(run_id + "\n")
    write_json(
        paths.metrics / "train" / f"{name}.json",
        {
            "best_epoch": result.best_epoch,
            "best_val_accuracy": round(result.best_val_accuracy, 6),
            "epochs_run": len(result.history),
            "n_parameters": count_parameters(model),
        },
    )
    curves = pd.DataFrame(result.history).assign(epoch=lambda f: np.arange(1, len(f) + 1))
    with atomic_path(paths.metrics / "curves" / f"{name}.csv") as tmp:
        curves[list(CURVE_COLUMNS)].round(6).to_csv(tmp, index=False)
