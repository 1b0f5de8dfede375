"""Seeing a study: its trials as a table, the best trial as a DVC experiment to rerun, and Optuna's
plots (optimisation history, parameter importances, parallel coordinates) as PNG files."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ferpipe import tables
from ferpipe.io import atomic_path
from ferpipe.tuning.space import exp_run_flags
from ferpipe.tuning.study import RUN_ATTR

PLOTS = ("history", "importances", "parallel")


def trials_table(study: Any) -> str:
    """One row per trial, best first; a value column per searched key."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: (t.value is None, -(t.value or 0.0), t.number))
    keys = sorted({k for t in trials for k in t.params})
    columns = [("trial", "right"), ("state", "left"), ("val accuracy", "right"), ("epochs", "right"), ("s", "right")]
    columns += [(key.removeprefix("models."), "right") for key in keys]
    rows = []
    for t in trials:
        score = f"{t.value:.4f}" if t.value is not None else "-"
        epochs = str(max(t.intermediate_values)) if t.intermediate_values else "-"
        seconds = f"{t.user_attrs['seconds']:.0f}" if "seconds" in t.user_attrs else "-"
        values = [_cell(t.params[k]) if k in t.params else "" for k in keys]
        rows.append([str(t.number), t.state.name.lower(), score, epochs, seconds, *values])
    return tables.render(f"study {study.study_name}: {len(trials)} trials", columns, rows)


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def best_command(study: Any) -> list[str]:
    """``dvc exp run`` with the best trial's values: the reproducible rerun through the whole pipeline."""
    import optuna

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise ValueError(f"study {study.study_name!r}: no completed trial yet (`ferpipe tune --show` lists them)")
    best = study.best_trial
    return ["dvc", "exp", "run", "-n", f"tune-{study.study_name}", *exp_run_flags(best.params)]


def write_plots(study: Any, folder: Path) -> tuple[list[Path], list[str]]:
    """The study's plots as PNGs in ``folder``; also says which could not be drawn yet, and why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as views

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    drawers = {
        "history": views.plot_optimization_history,
        "importances": views.plot_param_importances,
        "parallel": views.plot_parallel_coordinate,
    }
    needs = {"history": 1, "importances": 2, "parallel": 2}
    folder.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for name in PLOTS:
        if len(complete) < needs[name]:
            skipped.append(f"{name}: needs {needs[name]} completed trials, the study has {len(complete)}")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib views experimental
            axes = drawers[name](study)
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
