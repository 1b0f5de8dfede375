"""Scoring one trained model as a pipeline step: its probabilities on validation and test under
the evaluation's test-time views, its metrics and confusion matrix, logged to the MLflow run that
trained it. The ``evaluate@<model>`` and ``distill@<student>`` stages call :func:`evaluate_model`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferpipe.config import Paths
from ferpipe.data.dataset import load_cross_sets, load_split
from ferpipe.device import default_device, placed
from ferpipe.evaluate.cross import cross_split, score_cross
from ferpipe.evaluate.metrics import softmax
from ferpipe.evaluate.plots import saliency_folder, write_pictures
from ferpipe.evaluate.robustness import ROBUST_SPLIT, robustness_faces, score_robustness
from ferpipe.evaluate.saliency import explain_test
from ferpipe.evaluate.scoring import CONFUSION_PNG, EVAL_SPLITS, RELIABILITY_PNG, mlflow_metrics, score, write_scores
from ferpipe.io import atomic_dir, save_npy
from ferpipe.models.inference import predict_logits
from ferpipe.models.saved import load_model
from ferpipe.tracking import TrackingSettings, log_scores

if TYPE_CHECKING:
    from ferpipe.schema import Evaluate, Params


@dataclass(frozen=True)
class ScoringSettings:
    """What scoring takes from params: the evaluation's views and batch size, and MLflow's settings."""

    evaluation: Evaluate
    tracking: TrackingSettings

    @classmethod
    def of(cls, params: Params) -> ScoringSettings:
        return cls(params.evaluate, TrackingSettings.of(params))


def evaluate_model(
    name: str, model_file: Path, predictions: Path, settings: ScoringSettings, paths: Paths
) -> dict[str, dict[str, Any]]:
    """Score the model in ``model_file`` on validation, test and each test-only source, with the same
    test-time views (``evaluate.tta``) for all; write its probabilities to ``predictions``, its metrics
    and confusion matrix under ``metrics/``, and log them to the MLflow run that trained it.
    The test faces are also scored under every corruption (:mod:`ferpipe.evaluate.robustness`) and a
    convolutional model's Grad-CAM maps drawn (:mod:`ferpipe.evaluate.saliency`).
    Returns its ``val`` and ``test`` metrics."""
    model = placed(load_model(model_file, settings.evaluation.tta), default_device())
    batch_size = settings.evaluation.batch_size
    splits = {split: load_split(paths.balanced, split) for split in EVAL_SPLITS}
    probs = {split: softmax(predict_logits(model, data.images, batch_size)) for split, data in splits.items()}
    labels = {split: data.labels for split, data in splits.items()}
    cross = load_cross_sets(paths.audited)  # test-only sources: balance left them out of data/balanced
    cross_probs = {s: softmax(predict_logits(model, data.images, batch_size)) for s, data in cross.items()}
    test, plain = splits["test"], load_model(model_file)  # plain: one forward pass a face, no test-time views
    looked, pictures = explain_test(plain, test.images, test.labels, probs["test"].argmax(axis=1))
    plain = placed(plain, default_device())
    robust = np.stack([softmax(predict_logits(plain, v, batch_size)) for v in robustness_faces(test.images)])
    with atomic_dir(predictions) as folder:
        for split, p in [*probs.items(), *((cross_split(s), p) for s, p in cross_probs.items())]:
            save_npy(folder / f"{split}.npy", p.astype(np.float32))
        save_npy(folder / f"{ROBUST_SPLIT}.npy", robust.astype(np.float32))
        scores = score(paths, name, labels, probs, folder)
    write_pictures(saliency_folder(paths.metrics, name), name, looked, pictures)
    if cross:
        scores["cross"] = score_cross({s: data.labels for s, data in cross.items()}, cross_probs)
    scores["robustness"] = score_robustness(test.labels, robust)
    scores["saliency"] = looked
    write_scores(paths, name, scores)
    where = f"at {looked['layer']}" if "layer" in looked else f"skipped ({looked['skipped']})"
    print(f"{name}: Grad-CAM {where}; weakest under corruption: {scores['robustness']['weakest']}")
    artifacts = [paths.detail(name), predictions / CONFUSION_PNG, predictions / RELIABILITY_PNG]
    artifacts += [saliency_folder(paths.metrics, name) / file for file in pictures]
    log_scores(settings.tracking, paths, name, mlflow_metrics(scores), artifacts, {}, model_file=model_file)
    return scores
