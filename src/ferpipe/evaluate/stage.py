"""The ``evaluate@<model>`` and ``ensemble`` stages: score, plot, and log to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ferpipe import tracking
from ferpipe.config import Paths
from ferpipe.data.dataset import IMAGES, load_split
from ferpipe.evaluate import ensemble as ens
from ferpipe.evaluate.metrics import classification_metrics, flat_metrics, softmax
from ferpipe.evaluate.plots import write_confusion_csv, write_confusion_png
from ferpipe.io import atomic_dir, save_npy, write_json
from ferpipe.train.checkpoint import MODEL_FILE, load_model
from ferpipe.train.loop import predict_logits

EVAL_SPLITS = ("val", "test")


def _score(paths: Paths, name: str, labels: np.ndarray, probs: np.ndarray) -> tuple[dict[str, Any], Path]:
    """Test metrics plus the confusion CSV (for ``dvc plots``) and PNG of one model or ensemble."""
    predicted = probs.argmax(axis=1)
    write_confusion_csv(paths.metrics / "confusion" / f"{name}.csv", labels, predicted)
    png = paths.metrics / "confusion" / f"{name}.png"
    write_confusion_png(png, labels, predicted, name)
    return classification_metrics(labels, probs), png


def run_evaluate(name: str, params: dict[str, Any], paths: Paths) -> None:
    """Score one trained model on validation and test; keep its probabilities for the ensemble."""
    model = load_model(paths.models / name / MODEL_FILE)
    batch_size = int(params.get("evaluate", {}).get("batch_size", 256))
    splits = {split: load_split(paths.audited, split) for split in EVAL_SPLITS}
    probs = {split: softmax(predict_logits(model, data.images, batch_size)) for split, data in splits.items()}
    with atomic_dir(paths.predictions / name) as folder:
        for split, p in probs.items():
            save_npy(folder / f"{split}.npy", p.astype(np.float32))
    test_metrics, png = _score(paths, name, splits["test"].labels, probs["test"])
    val_metrics = classification_metrics(splits["val"].labels, probs["val"])
    metrics = {"test": test_metrics, "val": {k: val_metrics[k] for k in ("accuracy", "macro_f1")}}
    write_json(paths.metrics / f"{name}.json", metrics)
    _log(
        params,
        paths,
        tracking.read_run_id(paths.models / name),
        name,
        flat_metrics(test_metrics, "test"),
        [paths.metrics / f"{name}.json", png],
        {},
    )


def run_ensemble(params: dict[str, Any], paths: Paths) -> None:
    """Combine the members' probabilities by each configured method and score the result."""
    cfg = params["ensemble"]
    members: list[str] = list(cfg["members"])
    if len(members) < 2:
        raise ValueError(f"params ensemble.members: need at least 2 members, got {members}")
    labels = {split: load_split(paths.audited, split).labels for split in EVAL_SPLITS}
    probs = {split: [np.load(paths.predictions / m / f"{split}.npy") for m in members] for split in EVAL_SPLITS}
    run_ids = {m: tracking.read_run_id(paths.models / m) or "" for m in members}
    summary: dict[str, Any] = {}
    for method in ens.METHODS:
        tags = {
            "ferpipe.kind": "ensemble",
            "ferpipe.members": ",".join(members),
            "ferpipe.member_run_ids": ",".join(run_ids[m] for m in members),
        }
        if method == "average":
            test_probs = ens.average(probs["test"])
        elif method == "weighted":
            weights = ens.fit_weights(probs["val"], labels["val"])
            summary.setdefault("weights", {m: round(float(w), 6) for m, w in zip(members, weights, strict=True)})
            tags["ferpipe.weights"] = str(summary["weights"])
            test_probs = ens.weighted_average(probs["test"], weights)
        else:
            test_probs = ens.majority_vote(probs["test"])
        name = f"ensemble_{method}"
        test_metrics, png = _score(paths, name, labels["test"], test_probs)
        summary[method] = {"test": test_metrics}
        _log(params, paths, None, name, flat_metrics(test_metrics, "test"), [png], tags)
    write_json(paths.metrics / "ensemble.json", {"members": members, **summary})


def _log(
    params: dict[str, Any],
    paths: Paths,
    run_id: str | None,
    name: str,
    metrics: dict[str, float],
    artifacts: list[Path],
    tags: dict[str, str],
) -> None:
    """Add test metrics and plots to a model's train run, or to a new run for an ensemble."""
    import mlflow

    experiment = params["mlflow"]["experiment"]
    tracking.configure(experiment, paths.root)
    data_hash = tracking.file_hash(paths.audited / IMAGES)
    all_tags = {**tracking.run_tags(paths.root, experiment, data_hash), "ferpipe.model": name, **tags}
    with tracking.open_run(run_id=run_id, run_name=name, tags=all_tags):
        mlflow.log_metrics(metrics)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
