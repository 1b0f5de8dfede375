"""``ferpipe seeds MODEL``: one model trained under N seeds at once, as queued DVC experiments.

Each seed is ``dvc exp run --queue -n seeds-<model>-<seed> -S ++models.<model>.seed=<seed>`` (and
the same for each model of ``--also``, so two recipes compared over the seeds are both seeded; the
pipeline as it stands, so the ensemble and report follow each seed too, and every run lands in
MLflow like any experiment); ``dvc queue start -j JOBS`` runs them. Each experiment's
``metrics/<model>.json`` is then read through DVC, and every score is summarised over the seeds:
mean, sample standard deviation and range, so a recipe's claim reads "66.5 ± 0.3 over 3 seeds".
The summary is kept in ``results/seeds/<model>.json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.config import Paths, load_params
from ferpipe.io import replace_between, write_json
from ferpipe.presets.recipes import commit, machine, split_named
from ferpipe.tables import markdown

SEEDS_FOLDER = Path("results") / "seeds"
SCORES = ("test_acc", "test_f1", "val_acc")  # a model's headline metrics (metrics/<model>.json)
README_START = "<!-- seeds:start (written by `ferpipe results --readme` from results/seeds; not by hand) -->"
README_END = "<!-- seeds:end -->"
WORKER_GRACE_S = 90.0  # how long tasks may sit queued with no worker before that is an error


def tool_env() -> dict[str, str]:
    """This interpreter's folder first on PATH: DVC's queue workers start ``dvc`` by name, and a
    ``.venv/bin/ferpipe`` run from a shell without the venv on PATH would otherwise queue tasks
    that no worker can ever start."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def experiment_name(model: str, seed: int) -> str:
    return f"seeds-{model}-{seed}"


def _dvc(root: Path, *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise ValueError(f"`dvc {' '.join(args)}` failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def _workers(status: str) -> int:
    """Active plus idle workers in ``dvc queue status``'s last line (``Worker status: 1 active, 0 idle``)."""
    found = re.search(r"(\d+) active, (\d+) idle", status)
    return int(found.group(1)) + int(found.group(2)) if found else 0


def queue_tasks(status: str) -> dict[str, str]:
    """``dvc queue status``'s table as {experiment name: status}; tasks without a name are left out."""
    tasks = {}
    for line in status.splitlines():
        fields = line.split()  # task id, name, created (one or more words), status
        if len(fields) >= 4 and re.fullmatch(r"[0-9a-f]{7,40}", fields[0]):
            tasks[fields[1]] = fields[-1]
    return tasks


def queue_seeds(root: Path, model: str, seeds: Sequence[int], also: Sequence[str] = ()) -> list[str]:
    """Queue one experiment per seed (an earlier experiment or finished task of the same name is
    replaced; one still queued or running is an error, so a rerun never doubles the work).

    ``also``: other models given the same seed in each experiment. Without them a model compared
    with ``model`` over the seeds trains with its one seed in every experiment, and the paired
    comparison is against a single run."""
    names = [experiment_name(model, seed) for seed in seeds]
    tasks = queue_tasks(_dvc(root, "queue", "status"))
    if busy := [f"{name} ({tasks[name].lower()})" for name in names if tasks.get(name) in ("Queued", "Running")]:
        raise ValueError(
            f"{', '.join(busy)} already in DVC's queue: wait for it (`dvc queue status`) or remove it "
            "(`dvc queue remove NAME`, `dvc queue kill NAME`), then ask again"
        )
    if finished := [name for name in names if name in tasks]:
        _dvc(root, "queue", "remove", *finished)
    existing = set(_dvc(root, "exp", "list", "--name-only").split())
    if stale := [name for name in names if name in existing]:
        _dvc(root, "exp", "remove", *stale)
    for seed, name in zip(seeds, names, strict=True):
        settings = [arg for m in (model, *also) for arg in ("-S", f"++models.{m}.seed={seed}")]  # ++: set or add
        _dvc(root, "exp", "run", "--queue", "-n", name, *settings)
    return names


def run_queue(root: Path, jobs: int, limit_s: float) -> str:
    """Start the queue's workers and wait, at most ``limit_s``, until nothing is queued or running.

    The workers run detached (their output goes to a file, not a pipe that would tie this process
    to them); ``dvc queue status`` is polled every few seconds."""
    log_path = root / ".dvc" / "tmp" / "ferpipe-seeds.log"
    with open(log_path, "w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "dvc", "queue", "start", "-j", str(jobs)],
            cwd=root,
            env=tool_env(),
            stdout=log,
            stderr=log,
            timeout=120,
        )
    if done.returncode != 0:
        raise ValueError(f"`dvc queue start` failed: see {log_path}")
    deadline = time.monotonic() + limit_s
    stalled_since = time.monotonic()  # since when tasks wait with no worker at all (none running, none idle)
    while True:
        status = _dvc(root, "queue", "status")
        if not any(word in status for word in ("Queued", "Running")):
            return status
        if "Running" in status or _workers(status) > 0:
            stalled_since = time.monotonic()  # a worker between two tasks is idle for a moment, not gone
        elif time.monotonic() - stalled_since > WORKER_GRACE_S:
            raise ValueError(
                f"tasks are queued but no DVC queue worker is running after {WORKER_GRACE_S:.0f} s "
                f"(see {log_path}); start one with `dvc queue start`"
            )
        if time.monotonic() > deadline:
            raise ValueError(
                f"seed experiments still running after {limit_s:.0f} s; `dvc queue status` says:\n{status}"
            )
        time.sleep(3)


def _read_at(root: Path, path: str, name: str) -> dict[str, Any]:
    import dvc.api

    return json.loads(dvc.api.read(path, repo=str(root), rev=name))


def read_scores(root: Path, model: str, names: dict[int, str]) -> dict[int, dict[str, float]]:
    """Each seed's headline scores, read through DVC at its experiment; a failed seed is an error naming it."""
    found = {}
    for seed, name in names.items():
        try:
            found[seed] = _read_at(root, f"metrics/{model}.json", name)
        except Exception as exc:  # DVC raises many types: no such experiment, a failed run's missing file
            raise ValueError(
                f"seed {seed} ({name}): no metrics/{model}.json ({str(exc).splitlines()[0][:200]}); "
                f"`dvc queue logs {name}` says why"
            ) from None
    return found


def read_budgets(root: Path, experiment: str, model: str, names: dict[int, str]) -> dict[int, dict[str, Any]]:
    """Each seed's training budget: epochs run (DVC, at the experiment) and minutes, images/s and
    device from its MLflow train run (empty when the store has no run of that experiment)."""
    import mlflow

    from ferpipe import tracking

    experiment_id = tracking.configure(experiment, Paths(root).home)
    budgets = {}
    for seed, name in names.items():
        run_id = tracking.experiment_model_run(experiment_id, name, model)
        budgets[seed] = tracking.train_budget(run_id) if run_id else {}
        if run_id:  # the commit the experiment ran its code at (its baseline), from the run's own tag
            budgets[seed]["commit"] = mlflow.MlflowClient().get_run(run_id).data.tags.get("git.commit", "unknown")[:7]
        budgets[seed]["epochs"] = _read_at(root, f"metrics/details/train/{model}.json", name)["epochs_run"]
    return budgets


def summarise(per_seed: dict[int, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation (ddof 1), min and max of each score over the seeds."""
    out = {}
    for score in SCORES:
        values = np.array([scores[score] for scores in per_seed.values() if score in scores], dtype=np.float64)
        if values.size:
            spread = float(values.std(ddof=1)) if values.size > 1 else 0.0
            out[score] = {
                "mean": round(float(values.mean()), 6),
                "std": round(spread, 6),
                "min": round(float(values.min()), 6),
                "max": round(float(values.max()), 6),
                "n": int(values.size),
            }
    return out


def claim(score: str, summary: dict[str, float]) -> str:
    """``test_acc 66.5 ± 0.3 over 3 seeds (range 66.1-66.8)``, in percent."""
    return (
        f"{score} {summary['mean'] * 100:.1f} ± {summary['std'] * 100:.1f} over {summary['n']} seeds "
        f"(range {summary['min'] * 100:.1f}-{summary['max'] * 100:.1f})"
    )


def run_seeds(
    root: Path,
    model: str,
    seeds: Sequence[int],
    jobs: int = 1,
    limit_s: float = 6 * 3600,
    name: str | None = None,
    run: bool = True,
    also: Sequence[str] = (),
) -> dict[str, Any]:
    """Train ``model`` under each seed (queued experiments; ``run=False`` reads experiments already run),
    summarise, and record ``results/seeds/<name or model>.json`` with the budget and the machine."""
    if len(set(seeds)) < 2:
        raise ValueError(f"seeds {list(seeds)}: at least two different seeds make a spread")
    params = load_params(root / "params.yaml")
    if run:
        names = dict(zip(seeds, queue_seeds(root, model, seeds, also), strict=True))
        run_queue(root, jobs, limit_s)
    else:
        names = {seed: experiment_name(model, seed) for seed in seeds}
    per_seed = read_scores(root, model, names)
    budgets = read_budgets(root, params.mlflow.experiment, model, names)
    first = next(iter(names.values()))
    record = {
        "model": model,
        "seeds": {str(seed): {**scores, "budget": budgets[seed]} for seed, scores in per_seed.items()},
        "experiments": {str(seed): name for seed, name in names.items()},
        "summary": summarise(per_seed),
        "train_minutes": _mean([b.get("train_minutes") for b in budgets.values()]),
        "test_split": split_named(params.prepare, "test"),
        "n_test": _read_at(root, "metrics/prepare.json", first)["n_test"],
        "commit": _ran_at(budgets.values(), commit(root)),
        "machine": machine(),
        "recorded": time.strftime("%Y-%m-%d"),
    }
    write_json(root / SEEDS_FOLDER / f"{name or model}.json", record)
    return record


def _ran_at(budgets: Any, fallback: str) -> str:
    """The commit the seeds' runs were made at (one, or each of several), else ``fallback`` (HEAD)."""
    ran = sorted({budget["commit"] for budget in budgets if "commit" in budget})
    return ", ".join(ran) or fallback


def _mean(values: Sequence[float | None]) -> float | None:
    """The mean of the known values, to a tenth; None when none is known."""
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 1) if known else None


def seeds_table(root: Path) -> str:
    """One row per seed record: each score's mean ± sd over the seeds, its range, and the budget."""
    rows = []
    for path in sorted((root / SEEDS_FOLDER).glob("*.json")):
        entry = json.loads(path.read_text())
        summary, per_seed = entry["summary"], entry["seeds"].values()
        epochs = sorted({seed["budget"]["epochs"] for seed in per_seed if "budget" in seed})
        machine_facts = entry.get("machine") or {}
        where = machine_facts.get("gpu") or f"{machine_facts.get('cores', '?')}-core CPU"
        rows.append(
            [
                f"{path.stem} ({where}, {entry['recorded']}, commit {entry.get('commit', '?')})",
                entry["model"],
                ", ".join(entry["seeds"]),
                "/".join(map(str, epochs)) or "-",
                _minutes(per_seed),
                _mean_sd(summary.get("val_acc")),
                f"{_mean_sd(summary.get('test_acc'))} ({entry.get('test_split', 'test')})",
            ]
        )
    columns = [("seed record", "left"), ("model", "left"), ("seeds", "left"), ("epochs", "right")]
    columns += [("train min per seed", "right"), ("val % mean ± sd, range", "right")]
    columns += [("test % mean ± sd, range (split)", "right")]
    return markdown(columns, rows) if rows else "(no seed records in results/seeds/)"


def _minutes(per_seed: Any) -> str:
    """Each seed's training minutes (``18.9, 28.2, 29.4``): a mean would hide a seed that shared the CPU."""
    minutes = [seed["budget"].get("train_minutes") for seed in per_seed if "budget" in seed]
    return ", ".join(f"{m:g}" for m in minutes if m is not None) or "-"


def _mean_sd(summary: dict[str, float] | None) -> str:
    if not summary:
        return "-"
    spread = f"{100 * summary['min']:.1f}-{100 * summary['max']:.1f}"
    return f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f}, range {spread}"


def update_readme(root: Path) -> bool:
    """Rewrite the README's seed table between its markers; False when the markers are missing."""
    return replace_between(root / "README.md", README_START, README_END, seeds_table(root))
