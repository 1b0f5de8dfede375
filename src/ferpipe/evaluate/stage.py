"""The ``evaluate@<model>`` and ``ensemble`` stages: score, plot, and log to MLflow."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe import tracking
from ferpipe.config import MODEL_FILE, Paths
from ferpipe.data.dataset import IMAGES, load_split
from ferpipe.evaluate import calibration as cal
from ferpipe.evaluate import ensemble as ens
from ferpipe.evaluate.metrics import classification_metrics, flat_metrics, headline, softmax
from ferpipe.evaluate.plots import write_confusion_csv, write_confusion_png, write_reliability_png
from ferpipe.io import atomic_dir, save_npy, write_json
from ferpipe.models.inference import predict_logits
from ferpipe.models.saved import load_model
from ferpipe.models.tta import configured_views

EVAL_SPLITS = ("val", "test")
CONFUSION_PNG = "confusion.png"  # beside a model's predictions (DVC-cached), and in each MLflow run
RELIABILITY_PNG = "reliability.png"  # likewise


def _score(
    paths: Paths, name: str, labels: dict[str, np.ndarray], probs: dict[str, np.ndarray], png_folder: Path
) -> dict[str, Any]:
    """Test and validation metrics and calibration (the temperature fitted on validation); the
    confusion CSV that ``dvc plots`` draws; PNGs of it and of the reliability diagrams for MLflow
    (in ``png_folder``)."""
    predicted = probs["test"].argmax(axis=1)
    write_confusion_csv(paths.metrics / "confusion" / f"{name}.csv", labels["test"], predicted)
    write_confusion_png(png_folder / CONFUSION_PNG, labels["test"], predicted, name)
    calibration = cal.calibrate(labels, probs)
    write_reliability_png(png_folder / RELIABILITY_PNG, calibration, name)
    return {
        "test": classification_metrics(labels["test"], probs["test"]),
        "val": _brief(classification_metrics(labels["val"], probs["val"])),
        "calibration": calibration,
    }


def run_evaluate(name: str, params: dict[str, Any], paths: Paths) -> None:
    """Score one trained model on validation and test; keep its probabilities for the ensemble."""
    evaluate_model(name, paths.models / name / MODEL_FILE, paths.predictions / name, params, paths)


def evaluate_model(
    name: str, model_file: Path, predictions: Path, params: dict[str, Any], paths: Paths
) -> dict[str, dict[str, Any]]:
    """Score the model in ``model_file`` on validation and test, with the same test-time views
    (``evaluate.tta``) for both; write its probabilities to ``predictions``, its metrics and
    confusion matrix under ``metrics/``, and log them to the MLflow run that trained it.
    Returns its ``val`` and ``test`` metrics."""
    model = load_model(model_file, configured_views(params))
    batch_size = int(params.get("evaluate", {}).get("batch_size", 256))
    splits = {split: load_split(paths.balanced, split) for split in EVAL_SPLITS}
    probs = {split: softmax(predict_logits(model, data.images, batch_size)) for split, data in splits.items()}
    labels = {split: data.labels for split, data in splits.items()}
    with atomic_dir(predictions) as folder:
        for split, p in probs.items():
            save_npy(folder / f"{split}.npy", p.astype(np.float32))
        scores = _score(paths, name, labels, probs, folder)
    _write_scores(paths, name, scores)
    artifacts = [paths.details / f"{name}.json", predictions / CONFUSION_PNG, predictions / RELIABILITY_PNG]
    _log(params, paths, name, _mlflow_metrics(scores), artifacts, {}, model_file=model_file)
    return scores


def run_ensemble(params: dict[str, Any], paths: Paths) -> None:
    """Combine the members' probabilities by each method, score, and register the pipeline's best.

    The best is the member or ensemble with the highest validation accuracy (the test split
    never chooses anything); it is registered as a new version and becomes ``@challenger``,
    and ``@champion`` only by the rule in :mod:`ferpipe.registry`.
    """
    cfg = params["ensemble"]
    members: list[str] = list(cfg["members"])
    if not members:  # one member is allowed: a single-model report still runs the whole pipeline
        raise ValueError("params ensemble.members: name at least one trained model")
    labels = {split: load_split(paths.balanced, split).labels for split in EVAL_SPLITS}
    probs = {split: [np.load(paths.predictions / m / f"{split}.npy") for m in members] for split in EVAL_SPLITS}
    experiment_id = tracking.configure(params["mlflow"]["experiment"], paths.home)
    run_ids = {m: tracking.model_run(experiment_id, paths.models / m / MODEL_FILE) or "" for m in members}
    weights = ens.fit_weights(probs["val"], labels["val"])  # validation only
    summary: dict[str, Any] = {"members": members, "weights": dict(zip(members, _rounded(weights), strict=True))}
    tags = {
        "ferpipe.kind": "ensemble",
        "ferpipe.members": ",".join(members),
        "ferpipe.member_run_ids": ",".join(run_ids[m] for m in members),
    }
    scored: dict[str, dict[str, Any]] = {
        m: {split: classification_metrics(labels[split], probs[split][i]) for split in EVAL_SPLITS}
        for i, m in enumerate(members)
    }
    for method in ens.METHODS:
        combined = {split: ens.combine(method, probs[split], weights) for split in EVAL_SPLITS}
        with tempfile.TemporaryDirectory() as workdir:
            summary[method] = scored[f"ensemble_{method}"] = _score(
                paths, f"ensemble_{method}", labels, combined, Path(workdir)
            )
            write_json(
                paths.metrics / f"ensemble_{method}.json", headline(summary[method]["test"], summary[method]["val"])
            )
            method_tags = {**tags, "ferpipe.method": method}
            if method == "weighted":
                method_tags["ferpipe.weights"] = json.dumps(summary["weights"])
            _log(
                params,
                paths,
                f"ensemble_{method}",
                _mlflow_metrics(summary[method]),
                [Path(workdir) / CONFUSION_PNG, Path(workdir) / RELIABILITY_PNG],
                method_tags,
                {"arch": f"ensemble_{method}", "members": ",".join(members)},  # lines up with the models' arch
            )
    best = max(scored, key=lambda name: scored[name]["val"]["accuracy"])  # first of equals: members come first
    if best in members:  # its temperature, refitted on validation exactly as its evaluate stage fitted it
        chosen_probs = {split: probs[split][members.index(best)] for split in EVAL_SPLITS}
        scored[best]["calibration"] = cal.calibrate(labels, chosen_probs)
    summary["best"] = {"name": best, "val_accuracy": scored[best]["val"]["accuracy"]}
    write_json(paths.details / "ensemble.json", summary)
    # unique keys, so `dvc exp show --drop 'metrics/|data/'` keeps them with short headers: the pipeline's result
    best_scores = {"best_val_acc": scored[best]["val"]["accuracy"], "best_test_acc": scored[best]["test"]["accuracy"]}
    write_json(paths.metrics / "best.json", best_scores)
    method = best.removeprefix("ensemble_")
    chosen = members if best.startswith("ensemble_") else [best]
    files = {m: paths.models / m / MODEL_FILE for m in chosen}
    fitted = _rounded(weights) if method == "weighted" else None
    register_classifier(params, paths, best, scored[best], files, method, fitted, [run_ids[m] for m in chosen])


def register_classifier(
    params: dict[str, Any],
    paths: Paths,
    best: str,
    scores: dict[str, Any],
    files: dict[str, Path],
    method: str,
    fitted: list[float] | None,
    run_ids: list[str],
    student: bool = False,
) -> None:
    """Log ``best`` (one model, or an ensemble of ``files`` by ``method``) as a pyfunc in a run of
    its own, register it as a new version, and apply the registry rule. The pipeline's best also
    gives the pipeline's run its metrics; a distilled ``student`` does not."""
    import mlflow

    from ferpipe import model_card, registry
    from ferpipe.classifier import log_classifier

    chosen = list(files)
    registered = tracking.registered_model(params)
    data_hash = tracking.file_hash(paths.balanced / IMAGES)
    tags = {
        **tracking.run_tags(paths.root, params, data_hash),
        "ferpipe.kind": "classifier",
        "ferpipe.model": best,
        "ferpipe.members": ",".join(chosen),
        "ferpipe.member_run_ids": ",".join(run_ids),
    }
    metrics = {
        "val_accuracy": float(scores["val"]["accuracy"]),
        "test_accuracy": float(scores["test"]["accuracy"]),
        "test_macro_f1": float(scores["test"]["macro_f1"]),
    }
    parent = tracking.pipeline_run(paths.root, params)
    with (
        tracking.open_run(run_name=f"classifier: {best}", tags=tags, parent_run_id=parent),
        tempfile.TemporaryDirectory() as workdir,
    ):
        views = configured_views(params)  # the views its members were scored with
        temperature = float(scores["calibration"]["temperature"])  # fitted on validation
        info = log_classifier(files, method, fitted, Path(workdir), registered, best, views, temperature)
        logged = _mlflow_metrics({**scores, "val": _brief(scores["val"])})
        mlflow.log_metrics(logged, model_id=info.model_id)
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    if parent and not student:  # the pipeline's row in the runs table shows its best, under the children's keys
        for key, value in logged.items():
            client.log_metric(parent, key, value)
        client.set_tag(parent, "ferpipe.best", best)
    version_tags = {
        registry.VAL_TAG: f"{metrics['val_accuracy']:.6f}",
        registry.TEST_TAG: f"{metrics['test_accuracy']:.6f}",
        "test_macro_f1": f"{metrics['test_macro_f1']:.6f}",
        "ferpipe.model": best,
        **{k: v for k, v in tags.items() if k in (registry.DATA_TAG, "git.commit", "dvc.exp_name", "leaky")},
    }
    for key, value in version_tags.items():
        client.set_model_version_tag(registered, version, key, value)
    budgets = {m: tracking.train_budget(r) for m, r in zip(chosen, run_ids, strict=True) if r}
    facts = model_card.card_facts(params, paths, best, scores, chosen, method, fitted, views, tags, budgets)
    with tempfile.TemporaryDirectory() as folder:
        card, files = model_card.write_card(facts, registered, version, Path(folder))
        for file in files:  # beside the model: what `models:/...` downloads and the server loads
            client.log_model_artifact(info.model_id, str(file))
    client.update_model_version(registered, version, description=card)
    decision = registry.settle(client, registered, version, metrics["val_accuracy"], data_hash)
    where = registry.CHAMPION if decision.promote else registry.CHALLENGER
    what = "distilled student" if student else "best of this pipeline"
    print(
        f"{what}: {best} (val accuracy {metrics['val_accuracy']:.4f}) -> "
        f"models:/{registered} version {version}, @{where}: {decision.reason}"
    )


def _write_scores(paths: Paths, name: str, scores: dict[str, Any]) -> None:
    """The headline DVC metrics of one model, and its full scores and calibration beside them (not a DVC metric)."""
    write_json(paths.details / f"{name}.json", scores)
    write_json(paths.metrics / f"{name}.json", headline(scores["test"], scores["val"]))


def _brief(metrics: dict[str, Any]) -> dict[str, float]:
    """The validation figures worth keeping: what the champion is chosen by."""
    return {k: metrics[k] for k in ("accuracy", "macro_f1")}


def _mlflow_metrics(scores: dict[str, Any]) -> dict[str, float]:
    """One key set for models and ensembles, so the MLflow compare view lines them up."""
    return {
        **flat_metrics(scores["test"], "test"),
        **{f"val_final/{k}": float(v) for k, v in scores["val"].items()},
        **cal.mlflow_metrics(scores["calibration"]),
    }


def _rounded(weights: np.ndarray) -> list[float]:
    return [round(float(w), 6) for w in weights]


def _log(
    params: dict[str, Any],
    paths: Paths,
    name: str,
    metrics: dict[str, float],
    artifacts: list[Path],
    tags: dict[str, str],
    run_params: dict[str, str] | None = None,
    model_file: Path | None = None,
) -> str:
    """Add test metrics and plots to the train run that wrote ``model_file``, or to a new run for an
    ensemble (a child of the pipeline's run); returns the run id."""
    import mlflow

    experiment_id = tracking.configure(params["mlflow"]["experiment"], paths.home)
    run_id = tracking.model_run(experiment_id, model_file) if model_file else None
    data_hash = tracking.file_hash(paths.balanced / IMAGES)
    all_tags = {**tracking.run_tags(paths.root, params, data_hash), "ferpipe.model": name, **tags}
    parent = None if run_id else tracking.pipeline_run(paths.root, params)
    with tracking.open_run(run_id=run_id, run_name=name, tags=all_tags, parent_run_id=parent) as run:
        # a model's train run logged the model: link its test metrics to it (an ensemble run has none)
        mlflow.log_metrics(metrics, model_id=tracking.logged_model_id(run_id) if run_id else None)
        if run_params:
            mlflow.log_params(run_params)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        return run.info.run_id
