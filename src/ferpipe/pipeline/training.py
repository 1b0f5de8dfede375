"""Training one model as a pipeline step: fit it, log it to its MLflow run, write its weights,
curves and summary, resuming from its checkpoint. The ``train@<model>`` stage calls
:func:`train_model`; the ``distill@<student>`` stage calls :func:`train_student`."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ferpipe import tracking
from ferpipe.config import MODEL_FILE, Paths
from ferpipe.data.balance import balance, balance_params
from ferpipe.data.dataset import Split, load_split
from ferpipe.device import AMP_DTYPES, autocast_dtype, channels_last_on
from ferpipe.io import atomic_dir, atomic_path, write_json
from ferpipe.models import count_parameters, create_model
from ferpipe.models.saved import save_model
from ferpipe.train.config import TrainConfig
from ferpipe.train.distributed import World
from ferpipe.train.loop import fit
from ferpipe.train.soft_targets import Teacher
from ferpipe.train.state import seed_everything

if TYPE_CHECKING:  # the schema's types only: training runs without pydantic on a GPU box
    from ferpipe.schema import Balance, Model, Params, Training

# Per-epoch values worth committing: deterministic on CPU (timings go to MLflow only).
CURVE_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
CHECKPOINT = "last.pt"
RUN_META = "run.json"


@dataclass(frozen=True)
class Recipe:
    """One model's settings as training reads them: its builder, its training config, its own balancing."""

    name: str
    arch: str
    args: dict[str, Any]
    cfg: TrainConfig
    balance: Balance | None  # the model's own balancing of the training split, if it has one

    @classmethod
    def of(cls, name: str, model: Model, defaults: Training) -> Recipe:
        """``models.<name>`` over the ``train`` defaults."""
        return cls(name, model.arch, dict(model.args), TrainConfig.of(defaults, model), model.balance)

    def build(self) -> Any:
        """The untrained model, its initial weights drawn from the recipe's seed (same seed, same model)."""
        seed_everything(self.cfg.seed)
        try:
            return create_model(self.arch, **self.args)
        except ValueError as exc:
            raise ValueError(f"params.yaml: models.{self.name}: {exc}") from exc

    def splits(self, paths: Paths) -> tuple[Split, Split]:
        """The training and validation splits of ``data/balanced``, training rows balanced by the recipe's own rule."""
        train = load_split(paths.balanced, "train")
        if self.balance:  # this model's own balancing (the imbalance study's members), training rows only
            train = balance(train, **balance_params(self.balance))
        return train, load_split(paths.balanced, "val")


@dataclass(frozen=True)
class TrainingSettings:
    """What training takes from params: the shared ``train`` defaults, the models, the pipeline's
    balancing (logged on the run of a model without its own) and MLflow's settings."""

    defaults: Training
    models: Mapping[str, Model]
    balance: Balance
    tracking: tracking.TrackingSettings

    @classmethod
    def of(cls, params: Params) -> TrainingSettings:
        return cls(params.train, params.models, params.balance, tracking.TrackingSettings.of(params))

    def recipe(self, name: str) -> Recipe:
        """``models.<name>``'s recipe; a name that is not a model is an error listing the models."""
        if name not in self.models:
            raise ValueError(f"params: no model {name!r} under 'models' (have: {', '.join(self.models)})")
        return Recipe.of(name, self.models[name], self.defaults)


def train_student(
    name: str, recipe: str, teach: Callable[[Split], Teacher], settings: TrainingSettings, paths: Paths
) -> None:
    """Train ``name`` by ``models.<recipe>``'s settings with a teacher's soft targets beside the labels
    (the distill stage); its weights go to ``data/distilled/<name>``, its curves where every model's go."""
    train_model(name, settings, paths, World(), recipe=recipe, teach=teach, out=paths.distilled)


def train_model(
    name: str,
    settings: TrainingSettings,
    paths: Paths,
    world: World,
    recipe: str | None = None,
    teach: Callable[[Split], Teacher] | None = None,
    out: Path | None = None,
) -> None:
    found = settings.recipe(recipe or name)
    arch, args, cfg, own_balance = found.arch, found.args, found.cfg, found.balance
    if world.is_main:
        print(f"train {name}: {cfg.epochs_note()}", flush=True)
    model = found.build()  # first: a bad arch or args fails before any data is read or MLflow run opens
    train, val = found.splits(paths)
    teacher = teach(train) if teach else None
    checkpoints = paths.checkpoints(name)
    data_hash = tracking.data_hash(paths)
    taught = _teaching(teacher)
    fingerprint = _fingerprint(arch, args, cfg, data_hash, _written(own_balance), taught)
    run_fit = partial(
        fit, model, train, val, cfg, checkpoint=checkpoints / CHECKPOINT, fingerprint=fingerprint, world=world
    )
    if not world.is_main:  # the other ranks only train; they read rank 0's checkpoint to resume
        run_fit(teacher=teacher)
        return

    import mlflow

    tracking.configure(settings.tracking.experiment, paths.home)
    resumed_run = _resumable_run(checkpoints, fingerprint)
    tags = {
        **tracking.run_tags(paths.root, settings.tracking, data_hash),
        "ferpipe.model": name,
        "ferpipe.kind": "model",
    }
    tags.update({f"ferpipe.{k}": str(v) for k, v in taught.items()})
    parent = None if resumed_run else tracking.pipeline_run(paths.root, settings.tracking)
    with tracking.open_run(run_id=resumed_run, run_name=name, tags=tags, parent_run_id=parent) as run:
        write_json(checkpoints / RUN_META, {"fingerprint": fingerprint, "mlflow_run_id": run.info.run_id})
        if resumed_run is None:
            balancing = _written(own_balance or settings.balance)
            mlflow.log_params(tracking.flatten({"arch": arch, "args": args, **_resolved(cfg, world.device(), model)}))
            mlflow.log_params(tracking.flatten({"balance": balancing, **({"distill": taught} if taught else {})}))
            mlflow.log_params(
                {
                    "n_parameters": count_parameters(model),
                    "n_train": len(train),
                    "n_val": len(val),
                    "targets": train.target_kind or "labels",  # FER+'s soft or multi_target votes
                    "world_size": world.size,
                }
            )
            tracking.log_datasets(paths.balanced, {"training": train, "validation": val}, data_hash)
        result = run_fit(teacher=teacher, on_epoch=log_epoch)
        example = np.zeros((2, 1, 48, 48), dtype=np.float32)  # batch 2: keeps the batch dim dynamic
        info = mlflow.pytorch.log_model(model.cpu(), name=name, input_example=example)
        best = {"best_epoch": result.best_epoch, "best_val_accuracy": result.best_val_accuracy}
        mlflow.log_metrics(best, model_id=info.model_id)
        run_id = run.info.run_id

    with atomic_dir((out or paths.models) / name) as folder:
        save_model(folder / MODEL_FILE, model, arch, args)
        tracking.tag_weights(run_id, folder / MODEL_FILE)  # before the rename: an output always has its run
    write_json(
        paths.detail(f"train/{name}"),
        {
            "best_epoch": result.best_epoch,
            "best_val_accuracy": round(result.best_val_accuracy, 6),
            "epochs_run": len(result.history),
            "n_parameters": count_parameters(model),
            "n_train": len(train),
            "device": world.describe(),
        },
    )
    curves = pd.DataFrame(result.history).assign(epoch=lambda f: np.arange(1, len(f) + 1))
    with atomic_path(paths.curves(name)) as tmp:
        curves[list(CURVE_COLUMNS)].round(6).to_csv(tmp, index=False)
    shutil.rmtree(checkpoints)  # finished: a later run must start afresh, not resume


def _written(section: Balance | None) -> dict[str, Any] | None:
    """A params section as the file wrote it (the keys given, no defaults): logged, and fingerprinted."""
    return section.model_dump(exclude_unset=True) if section is not None else None


def _resolved(cfg: TrainConfig, device: Any, model: Any) -> dict[str, Any]:
    """The training config as it ran: epochs after scaling, and the switches this device turns off."""
    on_cuda = device.type == "cuda"
    dtype = autocast_dtype(cfg.amp, device)
    return {
        **asdict(cfg),
        "epochs": cfg.total_epochs,
        "amp": next((name for name, d in AMP_DTYPES.items() if d is dtype), "none"),
        "channels_last": cfg.channels_last and channels_last_on(device, model),
        "compile": cfg.compile and on_cuda,
        "device": device.type,
    }


def _teaching(teacher: Teacher | None) -> dict[str, Any]:
    """A teacher's settings and a digest of its probabilities (for the fingerprint and MLflow); empty without one."""
    if teacher is None:
        return {}
    digest = hashlib.md5(teacher.probs.astype("<f4").tobytes()).hexdigest()
    return {"alpha": teacher.alpha, "temperature": teacher.temperature, "teacher_md5": digest}


def _fingerprint(
    arch: str, args: dict[str, Any], cfg: TrainConfig, data_hash: str, own_balance: Any, taught: dict[str, Any]
) -> str:
    """What a checkpoint must match to be resumed: the model, its training config, its data and any teacher."""
    parts = [arch, args, asdict(cfg), data_hash, own_balance] + ([taught] if taught else [])
    return hashlib.md5(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _resumable_run(checkpoints, fingerprint: str) -> str | None:
    """The MLflow run of an interrupted run with the same fingerprint, if there is one."""
    meta = checkpoints / RUN_META
    if not (checkpoints / CHECKPOINT).exists() or not meta.exists():
        return None
    saved = json.loads(meta.read_text())
    return saved["mlflow_run_id"] if saved.get("fingerprint") == fingerprint else None


def log_epoch(epoch: int, row: dict[str, float]) -> None:
    """Per-epoch curves, timing and throughput to the active MLflow run."""
    import mlflow

    names = {k: k.replace("_", "/", 1) if k.startswith(("train_", "val_")) else k for k in row}
    mlflow.log_metrics({names[k]: v for k, v in row.items()}, step=epoch)  # train/loss, val/accuracy, ...
