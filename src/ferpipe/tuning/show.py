"""Seeing a study: its trials as a table, the best trial as a DVC experiment to rerun, and Optuna's
plots (optimisation history, parameter importances, parallel coordinates) as PNG files."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferpipe import tables
from ferpipe.evaluate.uncertainty import wilson
from ferpipe.io import atomic_path
from ferpipe.tuning.space import exp_run_flags
from ferpipe.tuning.study import MODEL_ATTR, RUN_ATTR

if TYPE_CHECKING:
    from ferpipe.schema import Params


def trials_table(study: Any) -> str:
    """One row per trial, the completed ones best first; a value column per searched key."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    complete = optuna.trial.TrialState.COMPLETE
    trials = sorted(
        study.get_trials(deepcopy=False),
        key=lambda t: (t.state != complete, -(t.value or 0.0) if t.state == complete else 0.0, t.number),
    )
    keys = sorted({k for t in trials for k in t.params})
    columns = [
        ("trial", "right"),
        ("state", "left"),
        ("val accuracy (95% CI)", "right"),
        ("epochs", "right"),
        ("s", "right"),
    ]
    columns += [(key.removeprefix("models."), "right") for key in keys] + [("note", "left")]
    rows = []
    for t in trials:
        score = _score(t) if t.state == complete else "-"  # a pruned trial's value is where it stopped
        epochs = str(max(t.intermediate_values)) if t.intermediate_values else "-"
        seconds = f"{t.user_attrs['seconds']:.0f}" if "seconds" in t.user_attrs else "-"
        values = [_cell(t.params[k]) if k in t.params else "" for k in keys]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental since Optuna 2.8
            retry_of = RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
        note = "today's recipe" if t.user_attrs.get("baseline") else ""
        if retry_of is not None or "retry_of" in t.user_attrs:
            note = f"retry of trial {retry_of if retry_of is not None else t.user_attrs['retry_of']}"
        rows.append([str(t.number), t.state.name.lower(), score, epochs, seconds, *values, note])
    faces = next((t.user_attrs["n_val"] for t in trials if "n_val" in t.user_attrs), None)
    over = f", intervals over its {faces} validation faces (Wilson)" if faces else ""
    return tables.render(f"study {study.study_name}: {len(trials)} trials{over}", columns, rows)


def _score(trial: Any) -> str:
    """The trial's validation accuracy and its Wilson interval over the validation faces."""
    n = trial.user_attrs.get("n_val")
    if not n:
        return f"{trial.value:.4f}"
    low, high = wilson(round(trial.value * n), n)
    return f"{trial.value:.4f} ({low:.3f}-{high:.3f})"


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def best_command(study: Any, params: Params) -> list[str]:
    """``dvc exp run`` with the best trial's values: the reproducible rerun through the whole pipeline."""
    import optuna

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise ValueError(f"study {study.study_name!r}: no completed trial yet (`ferpipe tune --show` lists them)")
    best = study.best_trial
    flags = exp_run_flags(best.params, study.user_attrs[MODEL_ATTR], params.document())
    return ["dvc", "exp", "run", "-n", f"tune-{study.study_name}", *flags]


def write_plots(study: Any, folder: Path) -> tuple[list[Path], list[str]]:
    """The study's plots as PNGs in ``folder``; also says which could not be drawn yet, and why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as views

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    drawers = {  # each plot, and the completed trials it needs
        "history": (views.plot_optimization_history, 1),
        "importances": (views.plot_param_importances, 2),
        "parallel": (views.plot_parallel_coordinate, 2),
    }
    folder.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for name, (draw, needs) in drawers.items():
        if len(complete) < needs:
            skipped.append(f"{name}: needs {needs} completed trials, the study has {len(complete)}")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib views experimental
            axes = draw(study, target_name="validation accuracy")
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(9, 5)
        figure.tight_layout()
        path = folder / f"{name}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, dpi=100, format="png")
        plt.close(figure)
        written.append(path)
    return written, skipped


def attach_plots(study: Any, written: list[Path]) -> None:
    """The plots as artifacts of the study's MLflow run (under ``tune/``), beside its trials."""
    import mlflow

    client = mlflow.MlflowClient()
    for path in written:
        client.log_artifact(study.user_attrs[RUN_ATTR], str(path), artifact_path="tune")
