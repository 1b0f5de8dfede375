"""The ``distill`` stage: one student learns the ensemble's probabilities on the training split,
so that the champion can be a single model that keeps most of the ensemble's accuracy at a
fraction of its cost.

Each entry under ``distill`` names a student and the model whose recipe it follows
(architecture, epochs, schedule), so that model, trained on the labels alone by
``train@<recipe>``, is the comparison at the same budget. The teacher scores the training
split only: validation still chooses the student's best epoch and test is scored once, as
for every model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from ferpipe import tracking
from ferpipe.config import Paths
from ferpipe.data.dataset import Split, load_split
from ferpipe.device import default_device, placed
from ferpipe.evaluate import ensemble as ens
from ferpipe.evaluate.metrics import softmax
from ferpipe.evaluate.scoring import EVAL_SPLITS
from ferpipe.evaluate.uncertainty import paired
from ferpipe.io import write_json
from ferpipe.models import count_parameters
from ferpipe.models.inference import predict_logits
from ferpipe.models.saved import load_model
from ferpipe.pipeline.scoring import ScoringSettings, evaluate_model
from ferpipe.pipeline.training import TrainingSettings, train_student
from ferpipe.serving.chosen import Chosen
from ferpipe.serving.registration import register_classifier
from ferpipe.train.soft_targets import Teacher

if TYPE_CHECKING:
    from ferpipe.schema import Evaluate, Params, Student


def teacher_probabilities(
    members: list[str], evaluation: Evaluate, paths: Paths, method: str, images: np.ndarray
) -> np.ndarray:
    """The ensemble's probabilities for ``images`` (training images only), by ``method``:
    its members scored with the evaluation's test-time views and batch size and combined as the
    ensemble stage does (the weighted average with the weights it fitted on validation)."""
    device = default_device()
    probs = [
        softmax(
            predict_logits(
                placed(load_model(paths.model_file(m), evaluation.tta), device), images, evaluation.batch_size
            )
        )
        for m in tqdm(members, desc="teacher: scoring the training split", unit="member", disable=None)
    ]
    weights = ens.fitted_weights(json.loads(paths.detail("ensemble").read_text()), method)
    return ens.combine(method, probs, weights).astype(np.float32)


def run(name: str, params: Params, paths: Paths) -> None:
    """Train the student ``distill.<name>`` on labels and the teacher's probabilities, score it like
    any model, register it (``@champion`` only by the registry's rule) and write the comparison."""
    if name not in params.distill:
        have = ", ".join(params.distill) or "none"
        raise ValueError(f"params: no student {name!r} under 'distill' (have: {have})")
    student, members = params.distill[name], list(params.ensemble.members)

    def teach(train: Split) -> Teacher:
        probs = teacher_probabilities(members, params.evaluate, paths, student.teacher, train.images)
        return Teacher(probs, student.alpha, student.temperature)

    train_student(name, student.recipe, teach, TrainingSettings.of(params), paths)
    model_file = paths.student_file(name)
    predictions = paths.distilled / name / "predictions"
    scores = evaluate_model(name, model_file, predictions, ScoringSettings.of(params), paths)
    experiment_id = tracking.configure(params.mlflow.experiment, paths.home)
    run_id = tracking.model_run(experiment_id, model_file) or ""
    val_predicted = np.load(predictions / "val.npy").argmax(axis=1)
    chosen = Chosen(name, {name: model_file}, name, None, [run_id], val_predicted, student=True)
    register_classifier(params, paths, chosen, scores)
    write_json(paths.detail(f"distill/{name}"), comparison(members, student, paths, name, scores))


def comparison(members: list[str], student: Student, paths: Paths, name: str, scores: dict[str, Any]) -> dict[str, Any]:
    """Student vs its teacher vs the same recipe trained alone: accuracies (with intervals), parameter
    counts, and paired tests on the same faces (the student against each)."""
    recipe, method = student.recipe, student.teacher
    alone = json.loads(paths.detail(recipe).read_text())
    ensemble = json.loads(paths.detail("ensemble").read_text())
    teacher = ensemble[method]

    def row(label: str, scored: dict[str, Any], files: list[Path]) -> dict[str, Any]:
        accuracies = {f"{split}_accuracy": round(float(scored[split]["accuracy"]), 6) for split in EVAL_SPLITS}
        intervals = {f"{split}_accuracy_interval": scored[split]["interval"]["accuracy"] for split in EVAL_SPLITS}
        count = sum(count_parameters(load_model(f)) for f in files)
        return {"name": label, **accuracies, **intervals, "n_parameters": count}

    labels = {split: load_split(paths.balanced, split).labels for split in EVAL_SPLITS}
    predicted = {
        split: np.load(paths.distilled / name / "predictions" / f"{split}.npy").argmax(1) for split in EVAL_SPLITS
    }
    weights = ens.fitted_weights(ensemble, method)
    taught = {
        split: ens.combine(method, [np.load(paths.probabilities(m, split)) for m in members], weights).argmax(1)
        for split in EVAL_SPLITS
    }
    on_its_own = {split: np.load(paths.probabilities(recipe, split)).argmax(1) for split in EVAL_SPLITS}
    return {
        "student": row(name, scores, [paths.student_file(name)]),
        "teacher": row(f"ensemble_{method}", teacher, [paths.model_file(m) for m in members]),
        "alone": row(recipe, alone, [paths.model_file(recipe)]),
        "paired": {
            "against_teacher": paired(labels, taught, predicted, (f"ensemble_{method}", name)),
            "against_alone": paired(labels, on_its_own, predicted, (recipe, name)),
        },
        "settings": student.model_dump(exclude_unset=True),
    }
