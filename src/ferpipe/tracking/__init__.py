"""MLflow plumbing: the tracking URI, the experiment, tags, and run ids handed between stages.

The package's own modules sit above this one: ``registry`` (the champion rule), ``runs``
(``ferpipe runs``) and ``server`` (``ferpipe server``); this module imports none of them.

mlflow is imported inside the functions, so the training code stays importable on a GPU box
that has only a stock PyTorch environment.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferpipe.config import Paths
from ferpipe.data.dataset import IMAGES

if TYPE_CHECKING:  # the schema's types only: training stays importable without pydantic
    from ferpipe.schema import Params

# The md5 of the model file a train run wrote. Later stages find the run by it: a run id kept
# beside the weights would make the DVC output differ on every run (and a restored output name
# a run of another store).
WEIGHTS_TAG = "ferpipe.model_md5"
PIPELINE_TAG = "ferpipe.pipeline"  # the same value on a pipeline's parent run and on its children
PARENT_TAG = "mlflow.parentRunId"
# MLflow 3's UI opens an experiment by its kind: without this tag it guesses, and may land on GenAI traces
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"


def tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else a sqlite store in the project root (never a temp copy)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


CHECK_RETRIES, CHECK_TIMEOUT_S = 0, 5.0  # the check's own defaults: MLflow's (7 retries, 120 s) take minutes


def check_reachable(uri: str) -> None:
    """Fail within seconds, naming the URI, when a tracking server does not answer or is not MLflow.

    The request goes through MLflow's own HTTP client, so it logs in, verifies TLS and retries as
    the stage's MLflow calls will (``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` or ``TOKEN``,
    ``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH``...). Its retries and
    timeout are MLflow's ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and ``MLFLOW_HTTP_REQUEST_TIMEOUT``
    when set, else none and 5 s: MLflow's defaults would retry for minutes before a stage said
    anything. An MLflow server answers ``/version`` with its version number; any other web server
    does not.
    """
    if not uri.startswith(("http://", "https://")):
        return
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT
    from mlflow.tracking._tracking_service.utils import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    retries = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() if MLFLOW_HTTP_REQUEST_MAX_RETRIES.is_set() else CHECK_RETRIES
    timeout = MLFLOW_HTTP_REQUEST_TIMEOUT.get() if MLFLOW_HTTP_REQUEST_TIMEOUT.is_set() else CHECK_TIMEOUT_S
    hint = "check MLFLOW_TRACKING_URI, or unset it to log to the project's local store"
    creds = get_default_host_creds(uri.rstrip("/"))
    try:
        response = http_request(creds, "/version", "GET", max_retries=retries, timeout=timeout, raise_on_status=False)
    except Exception as exc:  # MLflow wraps every connection, timeout and TLS error in its own exception
        reason = str(exc).splitlines()[0][:300]
        raise ValueError(f"MLflow tracking server {uri} is unreachable ({reason}); start it, or {hint}") from None
    if response.status_code == 401:
        given = "are not accepted" if creds.username or creds.token else "are not set"
        raise ValueError(
            f"MLflow tracking server {uri} asks for a login, and MLFLOW_TRACKING_USERNAME / "
            f"MLFLOW_TRACKING_PASSWORD {given}"
        )
    if response.status_code == 403:
        return  # logged in, but this user may not read /version: MLflow's client says what it may not do
    if response.status_code != 200:
        raise ValueError(f"{uri} is not an MLflow tracking server (HTTP {response.status_code} at /version); {hint}")
    answer = response.text[:200].strip()
    if not re.fullmatch(r"\d+\.\d+\S*", answer):
        raise ValueError(f"{uri} is not an MLflow tracking server (/version answered {answer[:40]!r}); {hint}")


def configure(experiment: str, root: Path) -> str:
    """Point MLflow at the store and experiment; returns the experiment id.

    A new experiment stores its artifacts under ``<root>/mlruns`` (for a local store), so a
    run started from DVC's temporary experiment copy still lands in the real repo.
    """
    import mlflow

    uri = connect(root)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None and found.lifecycle_stage == "deleted":
        raise ValueError(
            f"MLflow experiment {experiment!r} (id {found.experiment_id}) is deleted in {uri}: restore it"
            f" (MLFLOW_TRACKING_URI={uri} mlflow experiments restore --experiment-id {found.experiment_id})"
            " or name another in params mlflow.experiment"
        )
    if found is not None:
        experiment_id = found.experiment_id
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            mlflow.MlflowClient().set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    else:
        location = (Path(root).resolve() / "mlruns").as_uri() if uri.startswith("sqlite:") else None
        kind = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
        experiment_id = mlflow.create_experiment(experiment, artifact_location=location, tags=kind)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def connect(root: Path) -> str:
    """Point MLflow at the project's store (or ``MLFLOW_TRACKING_URI``), quietly, after checking a
    server answers; returns the URI."""
    quiet_mlflow()
    import mlflow

    uri = tracking_uri(root)
    check_reachable(uri)
    check_sqlite_store(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def check_sqlite_store(uri: str) -> None:
    """A local store that is not an SQLite database (a truncated copy, another file under its name)
    is one error naming it, not SQLAlchemy's traceback."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.exists() or not path.stat().st_size:
        return
    with open(path, "rb") as handle:  # the 100-byte header only: the store may be hundreds of MB
        header = handle.read(100)
    if header[:16] != b"SQLite format 3\x00":
        raise ValueError(f"{path}: the MLflow store is not an SQLite database; move it aside to start a new one")
    expected = _sqlite_size(header)
    if expected and path.stat().st_size < expected:
        raise ValueError(
            f"{path}: the MLflow store is cut short ({path.stat().st_size:,} of its {expected:,} bytes: "
            "an interrupted copy?); copy it again, or move it aside to start a new one"
        )


def _sqlite_size(header: bytes) -> int:
    """The database's size in bytes by its own header (page size x page count), 0 when the header
    does not vouch for its count (an older writer left it stale)."""
    if len(header) < 100 or header[24:28] != header[92:96]:
        return 0
    page_size = int.from_bytes(header[16:18], "big")
    return (65536 if page_size == 1 else page_size) * int.from_bytes(header[28:32], "big")


@dataclass(frozen=True)
class TrackingSettings:
    """What every MLflow run of a pipeline takes from params: the experiment, the registered model and
    its promotion rule, the protocol's leak tags, and the whole params file (the pipeline's run logs it)."""

    experiment: str
    leak_tags: Mapping[str, str]  # ``leaky`` and the switches (ferpipe.protocol.leak_tags)
    document: Mapping[str, Any]  # the params file as written
    registered_model: str = "ferpipe"
    promote_on: str = "any_gain"

    @classmethod
    def of(cls, params: Params) -> TrackingSettings:
        from ferpipe.protocol import leak_tags

        section = params.mlflow
        return cls(
            section.experiment, leak_tags(params), params.document(), section.registered_model, section.promote_on
        )


def runs_page(ui: str, experiment_id: str) -> str:
    """The UI's runs table of an experiment, in its model-training view (MLflow 3 otherwise opens
    the GenAI overview, whatever the experiment's kind)."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def quiet_mlflow() -> None:
    """Keep MLflow to what a user can act on: no INFO lines about system metrics, no artifact
    download bars, no User/FutureWarnings raised in
    MLflow's own modules. (The pyfunc's type-hint warnings get past any filter:
    ``classifier.log_classifier`` records and drops them.)"""
    import warnings

    import mlflow  # noqa: F401  (its import sets its loggers to INFO: lower them after it)

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow\.")


def git_commit(root: Path) -> str:
    """The checked-out commit, or ``unknown`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def file_hash(*paths: Path) -> str:
    """A short md5 over files' bytes: the identity of the data a run saw."""
    digest = hashlib.md5()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def run_tags(root: Path, settings: TrackingSettings, data_hash: str) -> dict[str, str]:
    """Tags that tie a run to its DVC stage, DVC experiment, commit and data, and flag a leaky protocol."""
    tags = {
        "ferpipe.experiment": settings.experiment,
        "git.commit": git_commit(root),
        "data.hash": data_hash,
        **settings.leak_tags,
    }
    for env, tag in (
        ("DVC_STAGE", "dvc.stage"),
        ("DVC_EXP_NAME", "dvc.exp_name"),
        ("DVC_EXP_BASELINE_REV", "dvc.exp_baseline_rev"),
    ):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys, the way the MLflow compare view lines them up."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def pipeline_key() -> str | None:
    """Which ``dvc repro`` / ``dvc exp run`` started this stage: the DVC process and experiment.

    DVC runs stages one after another as children of one process, so its pid and start time
    name the invocation. None outside DVC (a stage script run by hand).
    """
    if not os.environ.get("DVC_STAGE"):
        return None
    import psutil

    for process in psutil.Process().parents():
        try:
            argv = process.cmdline()
            if any(Path(part).name == "dvc" for part in argv[:3]):
                invocation = f"{process.pid}-{int(process.create_time() * 1000)}"
                return f"{os.environ.get('DVC_EXP_NAME', 'repro')}:{invocation}"
        except psutil.Error:
            continue
    return None


def pipeline_run(root: Path, settings: TrackingSettings) -> str | None:
    """The parent run of the running pipeline, created by its first stage that logs to MLflow.

    It carries the whole params file, so runs of two pipelines compare in one view.
    """
    key = pipeline_key()
    if key is None:
        return None
    import mlflow
    from mlflow.entities import Param

    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name(settings.experiment).experiment_id
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{PIPELINE_TAG}` = '{key}' and tags.`ferpipe.kind` = 'pipeline'"
    )
    if found:
        return found[0].info.run_id
    tags = {**run_tags(root, settings, "-"), "ferpipe.kind": "pipeline", PIPELINE_TAG: key}
    tags.pop("dvc.stage", None)
    tags.pop("data.hash")
    name = os.environ.get("DVC_EXP_NAME") or f"repro {time.strftime('%Y-%m-%d %H:%M:%S')}"
    run = client.create_run(experiment_id, tags=tags, run_name=name)
    for batch in _chunks(flatten(settings.document), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in batch])
    return run.info.run_id


def _chunks(mapping: Mapping[str, Any], size: int) -> Iterator[list[tuple[str, Any]]]:
    items = list(mapping.items())
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def open_run(
    run_id: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
) -> Iterator[Any]:
    """Start a new run (with system metrics), or reopen ``run_id`` if the store still has it.

    A reopened run keeps the tags it was created with (its DVC stage, say); only new tag
    names are added. A new run under ``parent_run_id`` becomes its child, and the parent's
    status and end time follow the child's: a pipeline's run ends when its last stage does.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    tags = dict(tags or {})
    follows = parent_run_id  # the run whose status follows this one's
    if run_id:
        try:
            existing = mlflow.get_run(run_id).data.tags
            tags = {k: v for k, v in tags.items() if k not in existing}
            parent_run_id = None  # a reopened run keeps its parent; that pipeline run, left FAILED
            follows = existing.get(PARENT_TAG)  # by the interruption, follows the resumed child again
        except MlflowException:
            print(f"MLflow run {run_id} is not in {mlflow.get_tracking_uri()}; starting a new run")
            run_id = None
    if parent_run_id:
        tags[PIPELINE_TAG] = mlflow.get_run(parent_run_id).data.tags.get(PIPELINE_TAG, "")
    status = "FAILED"
    try:
        with mlflow.start_run(
            run_id=run_id,
            run_name=None if run_id else run_name,
            tags=tags,
            parent_run_id=parent_run_id,
            log_system_metrics=run_id is None,
        ) as run:
            yield run
        status = "FINISHED"
    finally:
        if follows:
            mlflow.MlflowClient().set_terminated(follows, status)


def log_datasets(folder: Path, splits: Mapping[str, Any], data_hash: str) -> None:
    """The splits a run saw as MLflow dataset inputs (name, digest = the data hash, source folder)."""
    import mlflow
    import mlflow.data

    for context, split in splits.items():
        dataset = mlflow.data.from_numpy(
            split.images, targets=split.labels, source=str(folder), name=f"{folder.name}/{context}", digest=data_hash
        )
        mlflow.log_input(dataset, context=context)


def logged_model_id(run_id: str) -> str | None:
    """The model a run logged (MLflow 3's logged models), so metrics logged later link to it."""
    import mlflow

    found = mlflow.search_logged_models(filter_string=f"source_run_id = '{run_id}'", output_format="list")
    return found[0].model_id if found else None


def tag_weights(run_id: str, model_file: Path) -> None:
    """Mark ``run_id`` as the train run that wrote ``model_file``."""
    import mlflow

    mlflow.MlflowClient().set_tag(run_id, WEIGHTS_TAG, file_hash(model_file))


def train_budget(run_id: str) -> dict[str, Any]:
    """What a train run spent: epochs, training minutes (its ``epoch_seconds`` summed), median
    images/s and device. From MLflow, not from DVC's outputs: a time is never the same twice, and
    an output whose hash moved on every run would defeat DVC's cache."""
    from statistics import median

    import mlflow

    client = mlflow.MlflowClient()
    seconds = [m.value for m in client.get_metric_history(run_id, "epoch_seconds")]
    rates = [m.value for m in client.get_metric_history(run_id, "images_per_second")]
    return {
        "epochs": len(seconds),
        "train_minutes": round(sum(seconds) / 60, 1),
        "images_per_second": round(median(rates)) if rates else None,
        "device": client.get_run(run_id).data.params.get("device", "?"),
    }


def experiment_model_run(experiment_id: str, experiment_name: str, model: str) -> str | None:
    """The newest train run of ``model`` inside the DVC experiment ``experiment_name``; None when none."""
    import mlflow

    found = mlflow.MlflowClient().search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`dvc.exp_name` = '{experiment_name}' and tags.`ferpipe.model` = '{model}' "
            "and tags.`ferpipe.kind` = 'model'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


def model_run(experiment_id: str, model_file: Path) -> str | None:
    """The newest train run of the experiment that wrote exactly these weights; None when the store
    has none (the model came from DVC's cache, trained against another store)."""
    import mlflow

    found = mlflow.MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{WEIGHTS_TAG}` = '{file_hash(model_file)}' and tags.`ferpipe.kind` = 'model'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0].info.run_id if found else None


def data_hash(paths: Paths) -> str:
    """The md5 of the balanced images every model trains and is scored on: the runs' data tag."""
    return file_hash(paths.balanced / IMAGES)


def log_scores(
    settings: TrackingSettings,
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

    experiment_id = configure(settings.experiment, paths.home)
    run_id = model_run(experiment_id, model_file) if model_file else None
    all_tags = {**run_tags(paths.root, settings, data_hash(paths)), "ferpipe.model": name, **tags}
    parent = None if run_id else pipeline_run(paths.root, settings)
    with open_run(run_id=run_id, run_name=name, tags=all_tags, parent_run_id=parent) as run:
        # a model's train run logged the model: link its test metrics to it (an ensemble run has none)
        mlflow.log_metrics(metrics, model_id=logged_model_id(run_id) if run_id else None)
        if run_params:
            mlflow.log_params(run_params)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        return run.info.run_id
