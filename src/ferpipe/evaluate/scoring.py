"""Scores of one model or ensemble from its probabilities: the metrics and calibration that
evaluation, the ensemble and distillation record, and the files and MLflow keys they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.config import Paths
from ferpipe.evaluate import calibration as cal
from ferpipe.evaluate.cross import cross_mlflow_metrics
from ferpipe.evaluate.metrics import classification_metrics, flat_metrics, headline
from ferpipe.evaluate.plots import write_confusion_csv, write_confusion_png, write_reliability_png
from ferpipe.evaluate.robustness import robustness_mlflow_metrics
from ferpipe.io import write_json

EVAL_SPLITS = ("val", "test")
CONFUSION_PNG = "confusion.png"  # beside a model's predictions (DVC-cached), and in each MLflow run
RELIABILITY_PNG = "reliability.png"  # likewise


def score(
    paths: Paths, name: str, labels: dict[str, np.ndarray], probs: dict[str, np.ndarray], png_folder: Path
) -> dict[str, Any]:
    """Test and validation metrics and calibration (the temperature fitted on validation); the
    confusion CSV that ``dvc plots`` draws; PNGs of it and of the reliability diagrams for MLflow
    (in ``png_folder``)."""
    predicted = probs["test"].argmax(axis=1)
    write_confusion_csv(paths.confusion(name), labels["test"], predicted)
    write_confusion_png(png_folder / CONFUSION_PNG, labels["test"], predicted, name)
    calibration = cal.calibrate(labels, probs)
    write_reliability_png(png_folder / RELIABILITY_PNG, calibration, name)
    return {
        "test": classification_metrics(labels["test"], probs["test"]),
        "val": brief(classification_metrics(labels["val"], probs["val"])),
        "calibration": calibration,
    }


def write_scores(paths: Paths, name: str, scores: dict[str, Any]) -> None:
    """The headline DVC metrics of one model, and its full scores and calibration beside them (not a DVC metric)."""
    write_json(paths.detail(name), scores)
    write_json(paths.headline(name), headline(scores["test"], scores["val"]))


def brief(metrics: dict[str, Any]) -> dict[str, Any]:
    """The validation figures worth keeping: what the champion is chosen by, with their intervals."""
    kept = ("accuracy", "macro_f1")
    return {k: metrics[k] for k in kept} | {"interval": {k: metrics["interval"][k] for k in kept}}


def mlflow_metrics(scores: dict[str, Any]) -> dict[str, float]:
    """One key set for models and ensembles, so the MLflow compare view lines them up."""
    return {
        **flat_metrics(scores["test"], "test"),
        **flat_metrics(scores["val"], "val_final"),
        **cal.mlflow_metrics(scores["calibration"]),
        **cross_mlflow_metrics(scores.get("cross", {})),
        **robustness_mlflow_metrics(scores.get("robustness", {})),
    }
