"""The ``evaluate@<model>`` and ``ensemble`` stages: score, plot, and log to MLflow."""

from __future__ import annotations

import json
import tempfile
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
    splits = {split: load_split(paths.balanced, split) for split in EVAL_SPLITS}
    probs = {split: softmax(predict_logits(model, data.images, batch_size)) for split, data in splits.items()}
    with atomic_dir(paths.predictions / name) as folder:
        for split, p in probs.items():
            save_npy(folder / f"{split}.npy", p.astype(np.float32))
    test_metrics, png = _score(paths, name, splits["test"].labels, probs["test"])
    val_metrics = _brief(classification_metrics(splits["val"].labels, probs["val"]))
    write_json(paths.metrics / f"{name}.json", {"test": test_metrics, "val": val_metrics})
    _log(
        params,
        paths,
        tracking.read_run_id(paths.models / name),
        name,
        _mlflow_metrics(test_metrics, val_metrics),
        [paths.metrics / f"{name}.json", png],
        {},
    )


def run_ensemble(params: dict[str, Any], paths: Paths) -> None:
    """Combine the members' probabilities by each method, score, and register the champion.

    The champion is the member or ensemble with the best validation accuracy (the test split
    never chooses anything); it is logged as a pyfunc and gets the registry alias ``champion``.
    """
    cfg = params["ensemble"]
    members: list[str] = list(cfg["members"])
    if not members:  # one member is allowed: a single-model report still runs the whole pipeline
        raise ValueError("params ensemble.members: name at least one trained model")
    labels = {split: load_split(paths.balanced, split).labels for split in EVAL_SPLITS}
    probs = {split: [np.load(paths.predictions / m / f"{split}.npy") for m in members] for split in EVAL_SPLITS}
    run_ids = {m: tracking.read_run_id(paths.models / m) or "" for m in members}
    weights = ens.fit_weights(probs["val"], labels["val"])  # validation only
    summary: dict[str, Any] = {"members": members, "weights": dict(zip(members, _rounded(weights), strict=True))}
    tags = {
        "ferpipe.kind": "ensemble",
        "ferpipe.members": ",".join(members),
        "ferpipe.member_run_ids": ",".join(run_ids[m] for m in members),
    }
    method_runs: dict[str, str] = {}
    for method in ens.METHODS:
        combined = {split: ens.combine(method, probs[split], weights) for split in EVAL_SPLITS}
        val_metrics = _brief(classification_metrics(labels["val"], combined["val"]))
        test_metrics, png = _score(paths, f"ensemble_{method}", labels["test"], combined["test"])
        summary[method] = {"test": test_metrics, "val": val_metrics}
        method_tags = {**tags, "ferpipe.method": method}
        if method == "weighted":
            method_tags["ferpipe.weights"] = json.dumps(summary["weights"])
        method_runs[method] = _log(
            params,
            paths,
            None,
            f"ensemble_{method}",
            _mlflow_metrics(test_metrics, val_metrics),
            [png],
            method_tags,
            {"arch": f"ensemble_{method}", "members": ",".join(members)},  # lines up with the models' arch
        )
    summary["champion"] = _champion(paths, members, summary)
    write_json(paths.metrics / "ensemble.json", summary)
    _register_champion(params, paths, summary["champion"], members, weights, run_ids, method_runs)


def _champion(paths: Paths, members: list[str], summary: dict[str, Any]) -> dict[str, Any]:
    """The member or ensemble method with the highest validation accuracy (members win ties)."""
    scores = {m: json.loads((paths.metrics / f"{m}.json").read_text())["val"]["accuracy"] for m in members}
    scores.update({f"ensemble_{method}": summary[method]["val"]["accuracy"] for method in ens.METHODS})
    best = max(scores, key=lambda name: scores[name])  # first of equals: members come first
    return {"name": best, "val_accuracy": scores[best]}


def _register_champion(
    params: dict[str, Any],
    paths: Paths,
    champion: dict[str, Any],
    members: list[str],
    weights: np.ndarray,
    run_ids: dict[str, str],
    method_runs: dict[str, str],
) -> None:
    """Log the champion as a pyfunc in its own run and point the registry alias at it."""
    import mlflow

    from ferpipe.classifier import log_classifier

    name = champion["name"]
    method = name.removeprefix("ensemble_")
    chosen = members if name.startswith("ensemble_") else [name]
    files = {m: paths.models / m / MODEL_FILE for m in chosen}
    run_id = method_runs.get(method) or run_ids[name]
    registered = params["mlflow"].get("registered_model", "ferpipe")
    fitted = _rounded(weights) if method == "weighted" else None
    with tracking.open_run(run_id=run_id), tempfile.TemporaryDirectory() as workdir:
        info = log_classifier(files, method, fitted, Path(workdir), registered)
        mlflow.set_tag("ferpipe.champion", "true")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(registered, "champion", info.registered_model_version)
    print(f"champion: {name} (val accuracy {champion['val_accuracy']:.4f}) -> models:/{registered}@champion")


def _brief(metrics: dict[str, Any]) -> dict[str, float]:
    """The validation figures worth keeping: what the champion is chosen by."""
    return {k: metrics[k] for k in ("accuracy", "macro_f1")}


def _mlflow_metrics(test: dict[str, Any], val: dict[str, float]) -> dict[str, float]:
    """One key set for models and ensembles, so the MLflow compare view lines them up."""
    return {**flat_metrics(test, "test"), **{f"val_final/{k}": float(v) for k, v in val.items()}}


def _rounded(weights: np.ndarray) -> list[float]:
    return [round(float(w), 6) for w in weights]


def _log(
    params: dict[str, Any],
    paths: Paths,
    run_id: str | None,
    name: str,
    metrics: dict[str, float],
    artifacts: list[Path],
    tags: dict[str, str],
    run_params: dict[str, str] | None = None,
) -> str:
    """Add test metrics and plots to a model's train run, or to a new run for an ensemble (a child
    of the pipeline's run); returns the run id."""
    import mlflow

    tracking.configure(params["mlflow"]["experiment"], paths.home)
    data_hash = tracking.file_hash(paths.balanced / IMAGES)
    all_tags = {**tracking.run_tags(paths.root, params, data_hash), "ferpipe.model": name, **tags}
    parent = None if run_id else tracking.pipeline_run(paths.root, params)
    with tracking.open_run(run_id=run_id, run_name=name, tags=all_tags, parent_run_id=parent) as run:
        mlflow.log_metrics(metrics)
        if run_params:
            mlflow.log_params(run_params)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        return run.info.run_id
