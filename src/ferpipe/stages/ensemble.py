"""The ``ensemble`` stage: the members' probabilities combined by each method, scored, and the
pipeline's best (a member or an ensemble, by validation accuracy) registered as a classifier."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferpipe import tracking
from ferpipe.config import Paths
from ferpipe.data.dataset import load_cross_sets, load_split
from ferpipe.evaluate import calibration as cal
from ferpipe.evaluate import ensemble as ens
from ferpipe.evaluate.cross import cross_split, score_cross
from ferpipe.evaluate.metrics import classification_metrics, headline
from ferpipe.evaluate.robustness import ROBUST_SPLIT, ROBUSTNESS, robustness_table, score_robustness
from ferpipe.evaluate.scoring import CONFUSION_PNG, EVAL_SPLITS, RELIABILITY_PNG, mlflow_metrics, score
from ferpipe.evaluate.uncertainty import paired, paired_metrics
from ferpipe.io import write_json
from ferpipe.serving.chosen import Chosen
from ferpipe.serving.registration import register_classifier
from ferpipe.tracking import TrackingSettings, log_scores

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(params: Params, paths: Paths) -> None:
    """Combine the members' probabilities by each method, score, and register the pipeline's best.

    The best is the member or ensemble with the highest validation accuracy (the test split
    never chooses anything); it is registered as a new version and becomes ``@challenger``,
    and ``@champion`` only by the rule in :mod:`ferpipe.tracking.registry`.
    """
    members = list(params.ensemble.members)  # the schema asks for one at least: a single-model report runs too
    settings = TrackingSettings.of(params)
    labels = {split: load_split(paths.balanced, split).labels for split in EVAL_SPLITS}
    probs = {split: [np.load(paths.probabilities(m, split)) for m in members] for split in EVAL_SPLITS}
    cross_labels = {source: data.labels for source, data in load_cross_sets(paths.audited).items()}
    cross_probs = {s: [np.load(paths.probabilities(m, cross_split(s))) for m in members] for s in cross_labels}
    experiment_id = tracking.configure(settings.experiment, paths.home)
    run_ids = {m: tracking.model_run(experiment_id, paths.model_file(m)) or "" for m in members}
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
    robust = [np.load(paths.probabilities(m, ROBUST_SPLIT)) for m in members]  # (1 + views, faces, classes)
    for i, m in enumerate(members):  # the card of a member chosen as the best names these too
        if cross_labels:
            scored[m]["cross"] = score_cross(cross_labels, {s: p[i] for s, p in cross_probs.items()})
        scored[m]["robustness"] = score_robustness(labels["test"], robust[i])
    top = max(members, key=lambda m: scored[m]["val"]["accuracy"])  # the member an ensemble must beat
    top_predicted = {split: probs[split][members.index(top)].argmax(axis=1) for split in EVAL_SPLITS}
    val_predicted = {m: probs["val"][i].argmax(axis=1) for i, m in enumerate(members)}  # the champion rule pairs them
    for method in ens.METHODS:
        combined = {split: ens.combine(method, probs[split], weights) for split in EVAL_SPLITS}
        with tempfile.TemporaryDirectory() as workdir:
            summary[method] = scored[f"ensemble_{method}"] = score(
                paths, f"ensemble_{method}", labels, combined, Path(workdir)
            )
            if cross_labels:  # the same weights, fitted on validation, on each test-only source
                combined_cross = {s: ens.combine(method, p, weights) for s, p in cross_probs.items()}
                summary[method]["cross"] = score_cross(cross_labels, combined_cross)
            summary[method]["robustness"] = score_robustness(labels["test"], ens.combine_views(method, robust, weights))
            predicted = {split: combined[split].argmax(axis=1) for split in EVAL_SPLITS}
            val_predicted[f"ensemble_{method}"] = predicted["val"]
            against = paired(labels, top_predicted, predicted, (top, f"ensemble_{method}"))
            summary[method]["against_best_member"] = against
            print(f"test: {against['test']['sentence']}")
            write_json(
                paths.metrics / f"ensemble_{method}.json", headline(summary[method]["test"], summary[method]["val"])
            )
            method_tags = {**tags, "ferpipe.method": method, "ferpipe.vs_best_member": against["test"]["sentence"]}
            if method == "weighted":
                method_tags["ferpipe.weights"] = json.dumps(summary["weights"])
            log_scores(
                settings,
                paths,
                f"ensemble_{method}",
                mlflow_metrics(summary[method]) | paired_metrics(against, "over_best_member"),
                [Path(workdir) / CONFUSION_PNG, Path(workdir) / RELIABILITY_PNG],
                method_tags,
                {"arch": f"ensemble_{method}", "members": ",".join(members)},  # lines up with the models' arch
            )
    best = max(scored, key=lambda name: scored[name]["val"]["accuracy"])  # first of equals: members come first
    if best in members:  # its temperature, refitted on validation exactly as its evaluate stage fitted it
        chosen_probs = {split: probs[split][members.index(best)] for split in EVAL_SPLITS}
        scored[best]["calibration"] = cal.calibrate(labels, chosen_probs)
    summary["best"] = {"name": best, "val_accuracy": scored[best]["val"]["accuracy"]}
    write_json(paths.detail("ensemble"), summary)
    write_json(paths.detail(ROBUSTNESS), robustness_table({name: scored[name]["robustness"] for name in scored}))
    # unique keys, so `dvc exp show --drop 'metrics/|data/'` keeps them with short headers: the pipeline's result
    best_scores = {"best_val_acc": scored[best]["val"]["accuracy"], "best_test_acc": scored[best]["test"]["accuracy"]}
    write_json(paths.headline("best"), best_scores)
    method = best.removeprefix("ensemble_")
    chosen = members if best.startswith("ensemble_") else [best]
    files = {m: paths.model_file(m) for m in chosen}
    fitted = _rounded(weights) if method == "weighted" else None
    chosen_ids = [run_ids[m] for m in chosen]
    register_classifier(
        params, paths, Chosen(best, files, method, fitted, chosen_ids, val_predicted[best]), scored[best]
    )


def _rounded(weights: np.ndarray) -> list[float]:
    return [round(float(w), 6) for w in weights]
