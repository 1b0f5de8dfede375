"""``ferpipe runs``: the tracking store as a table, pipelines with their model and ensemble runs
beneath them, in the spirit of ``dvc exp show``.

A pipeline that retrained one model still ensembles the others from earlier pipelines: those
members are listed under it too, marked as reused. The registry's ``@champion`` and
``@challenger`` are marked on the runs that logged those versions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ferpipe.tables import render

DEFAULT_METRICS = ("test/accuracy", "test/macro_f1", "val_final/accuracy")
PARENT_TAG = "mlflow.parentRunId"
MEMBERS_TAG = "ferpipe.member_run_ids"
MARKS = {"champion": " ★ champion", "challenger": " ☆ challenger"}


def load_runs(experiment: str) -> Any:
    """Every run of ``experiment`` as a DataFrame (newest first); empty when there are none."""
    import mlflow
    import pandas as pd

    if mlflow.get_experiment_by_name(experiment) is None:
        return pd.DataFrame()
    return mlflow.search_runs(experiment_names=[experiment], order_by=["attributes.start_time DESC"])


def alias_runs(registered_name: str) -> dict[str, str]:
    """``{run id: alias}`` for the registry's champion and challenger (the champion wins a shared run)."""
    import mlflow

    from ferpipe.tracking import registry

    client = mlflow.MlflowClient()
    found = {}
    for alias in (registry.CHALLENGER, registry.CHAMPION):
        version = registry.aliased(client, registered_name, alias)
        if version is not None and version.run_id:
            found[version.run_id] = alias
    return found


def runs_table(
    runs: Any, metrics: Sequence[str] = DEFAULT_METRICS, pipelines: int = 5, aliases: Mapping[str, str] | None = None
) -> str:
    """The newest ``pipelines`` pipeline runs, each followed by its children and the members it reused;
    then runs outside any pipeline."""
    if runs.empty:
        return "no runs yet: run `dvc repro`\n"
    runs = _with_tags(runs)
    aliases = aliases or {}
    kind, parent = runs["tags.ferpipe.kind"], runs[f"tags.{PARENT_TAG}"]
    rows: list[list[str]] = []
    for _, pipeline in runs[kind == "pipeline"].head(pipelines).iterrows():
        rows.append(_row(pipeline, "", metrics, aliases))
        children = runs[parent == pipeline["run_id"]].sort_values("tags.mlflow.runName")
        listed = [(child, "") for _, child in children.iterrows()]
        for _, reused in runs[runs["run_id"].isin(_reused_members(children))].iterrows():
            listed.append((reused, " (reused)"))
        for i, (child, note) in enumerate(listed):
            branch = "└─ " if i == len(listed) - 1 else "├─ "
            rows.append(_row(child, branch, metrics, aliases, note))
    loose = runs[(parent == "") & (kind != "pipeline")]
    for _, run in loose.head(20).iterrows():
        rows.append(_row(run, "", metrics, aliases))
    columns = [("run", "left"), ("kind", "left"), ("status", "left"), ("started", "left"), ("run id", "left")]
    columns += [(m, "right") for m in metrics]
    return render("MLflow runs (newest pipelines first; ★ registry @champion, ☆ @challenger)", columns, rows)


def _reused_members(children: Any) -> list[str]:
    """Run ids of ensemble members that are not children of this pipeline: models it did not retrain."""
    own = set(children["run_id"])
    listed = {rid for ids in children[f"tags.{MEMBERS_TAG}"] for rid in str(ids).split(",") if rid}
    return sorted(listed - own)


def compare_url(runs: Any, ui: str = "http://127.0.0.1:5000") -> str | None:
    """The MLflow UI's compare view of the newest pipeline's model and ensemble runs, side by side."""
    if runs.empty:
        return None
    runs = _with_tags(runs)
    pipelines = runs[runs["tags.ferpipe.kind"] == "pipeline"]
    if pipelines.empty:
        return None
    children = runs[runs[f"tags.{PARENT_TAG}"] == pipelines.iloc[0]["run_id"]]
    ids = json.dumps(list(children["run_id"]), separators=(",", ":"))
    experiments = json.dumps(sorted(set(children["experiment_id"])), separators=(",", ":"))
    return f"{ui}/#/compare-runs?runs={quote(ids)}&experiments={quote(experiments)}"


def _with_tags(runs: Any) -> Any:
    """A copy with the tag columns this module reads, empty strings where a run lacks them."""
    runs = runs.copy()
    for column in (f"tags.{PARENT_TAG}", "tags.ferpipe.kind", f"tags.{MEMBERS_TAG}", "tags.mlflow.runName"):
        runs[column] = runs[column].fillna("") if column in runs else ""
    return runs


def _row(run: Any, branch: str, metrics: Sequence[str], aliases: Mapping[str, str], note: str = "") -> list[str]:
    name = (run["tags.mlflow.runName"] or run["run_id"][:8]) + MARKS.get(aliases.get(run["run_id"], ""), "") + note
    started = run["start_time"].strftime("%Y-%m-%d %H:%M") if run.get("start_time") is not None else "-"
    values = [run.get(f"metrics.{m}") for m in metrics]
    return [
        branch + name,
        run["tags.ferpipe.kind"] or "-",
        str(run["status"]),
        started,
        str(run["run_id"])[:8],
        *("-" if v is None or v != v else f"{v:.4f}" for v in values),
    ]
