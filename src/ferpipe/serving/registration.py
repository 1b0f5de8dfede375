"""What goes to MLflow once a model is scored: its scores on the run that trained it (or on a
run of its own for an ensemble), and the pipeline's best or a distilled student registered as
a classifier version with its model card, under the registry's champion rule."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferpipe import tracking
from ferpipe.config import Paths
from ferpipe.data.dataset import load_split
from ferpipe.evaluate.scoring import brief, mlflow_metrics
from ferpipe.serving.chosen import Chosen

if TYPE_CHECKING:
    from ferpipe.schema import Params


def register_classifier(params: Params, paths: Paths, chosen: Chosen, scores: dict[str, Any]) -> None:
    """Log ``chosen`` as a pyfunc in a run of its own, register it as a new version, and apply the
    registry rule. The pipeline's best also gives the pipeline's run its metrics; a student does not.
    Its model card describes the whole pipeline, so it takes the whole (typed) params."""
    import mlflow

    from ferpipe.serving import model_card
    from ferpipe.serving.classifier import log_classifier
    from ferpipe.tracking import registry

    best = chosen.name
    settings = tracking.TrackingSettings.of(params)
    registered = settings.registered_model
    data_hash = tracking.data_hash(paths)
    tags = {
        **tracking.run_tags(paths.root, settings, data_hash),
        "ferpipe.kind": "classifier",
        "ferpipe.model": best,
        "ferpipe.members": ",".join(chosen.members),
        "ferpipe.member_run_ids": ",".join(chosen.run_ids),
    }
    metrics = {
        "val_accuracy": float(scores["val"]["accuracy"]),
        "test_accuracy": float(scores["test"]["accuracy"]),
        "test_macro_f1": float(scores["test"]["macro_f1"]),
    }
    parent = tracking.pipeline_run(paths.root, settings)
    with (
        tracking.open_run(run_name=f"classifier: {best}", tags=tags, parent_run_id=parent),
        tempfile.TemporaryDirectory() as workdir,
    ):
        views = params.evaluate.tta  # the views its members were scored with
        temperature = float(scores["calibration"]["temperature"])  # fitted on validation
        info = log_classifier(
            chosen.files, chosen.method, chosen.weights, Path(workdir), registered, best, views, temperature
        )
        logged = mlflow_metrics({**scores, "val": brief(scores["val"])})
        mlflow.log_metrics(logged, model_id=info.model_id)
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    if parent and not chosen.student:  # the pipeline's row in the runs table shows its best, under the children's keys
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
    budgets = {m: tracking.train_budget(r) for m, r in zip(chosen.members, chosen.run_ids, strict=True) if r}
    facts = model_card.card_facts(params, paths, chosen, scores, tags, budgets)
    with tempfile.TemporaryDirectory() as folder:
        card, files = model_card.write_card(facts, registered, version, Path(folder))
        np.save(Path(folder) / registry.VAL_PREDICTIONS, chosen.val_predicted.astype(np.int8))
        for file in [*files, Path(folder) / registry.VAL_PREDICTIONS]:  # beside the model: `models:/...` has them
            client.log_model_artifact(info.model_id, str(file))
    client.update_model_version(registered, version, description=card)
    decision = registry.settle(
        client,
        registered,
        version,
        metrics["val_accuracy"],
        data_hash,
        load_split(paths.balanced, "val").labels,
        chosen.val_predicted,
        settings.promote_on,
    )
    where = registry.CHAMPION if decision.promote else registry.CHALLENGER
    what = "distilled student" if chosen.student else "best of this pipeline"
    print(
        f"{what}: {best} (val accuracy {metrics['val_accuracy']:.4f}) -> "
        f"models:/{registered} version {version}, @{where}: {decision.reason}"
    )
