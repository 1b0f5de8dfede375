"""The ``ferpipe`` command line: the model zoo, presets, the CI gate, run comparison and the tracking UI."""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ferpipe.config import load_params, repo_root
from ferpipe.errors import one_line_errors
from ferpipe.tracking.server import ADMIN_PASSWORD_ENV, DEFAULT_BACKEND

if TYPE_CHECKING:
    from ferpipe.schema import Params

app = typer.Typer(help="ferpipe: reproducible facial expression recognition on DVC and MLflow.", no_args_is_help=True)


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``app.command`` under the stages' error contract (:func:`ferpipe.errors.one_line_errors`):
    bad input is one ``error:`` line and exit 1, never a traceback."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*call_args: Any, **call_kwargs: Any) -> Any:
            with one_line_errors():
                return fn(*call_args, **call_kwargs)

        return app.command(*args, **kwargs)(run)

    return register


def _project_params(root: Path) -> Params:
    """The project's params.yaml, checked against the schema (a ParamsError names every bad key)."""
    return load_params(root / "params.yaml")


@command()
def models() -> None:
    """The models params.yaml trains (name, architecture, size, epochs), then every architecture of the zoo."""
    from ferpipe.models import count_parameters, create_model, describe, list_models
    from ferpipe.tables import render
    from ferpipe.train.config import TrainConfig

    params = _project_params(repo_root())
    rows = []
    for name, cfg in params.models.items():
        n_params = count_parameters(create_model(cfg.arch, **cfg.args))
        training = TrainConfig.of(params.train, cfg)
        epochs = (
            str(training.epochs)
            if training.total_epochs == training.epochs
            else f"{training.total_epochs} of {training.epochs}"
        )
        rows.append([name, cfg.arch, f"{n_params:,}", epochs, "yes" if name in params.ensemble.members else ""])
    columns = [("model", "left"), ("arch", "left"), ("parameters", "right"), ("epochs", "right"), ("ensembled", "left")]
    typer.echo(render("models in params.yaml (`dvc repro` trains these)", columns, rows), nl=False)
    scale = params.train.epochs_scale or 1.0
    if scale != 1.0:
        typer.echo(f"epochs: 'N of M' runs N of the recipe's M epochs (train.epochs_scale: {scale:g})\n")
    zoo = [[arch, f"{count_parameters(create_model(arch)):,}", describe(arch)] for arch in list_models()]
    columns = [("arch", "left"), ("parameters", "right"), ("description", "left")]
    typer.echo(render("architectures (models.<name>.arch), default args", columns, zoo), nl=False)


@command("params")
def params_reference(
    check: Annotated[bool, typer.Option("--check", help="Only check params.yaml against the schema.")] = False,
) -> None:
    """Every params.yaml key with what it accepts and its default, written from the schema every stage checks."""
    if check:
        found = _project_params(repo_root())
        typer.echo(f"params.yaml fits the schema ({len(found.sources)} sources, {len(found.models)} models)")
        return
    from ferpipe.report.params_reference import reference

    typer.echo(reference(), nl=False)


@command()
def preset(
    name: Annotated[str | None, typer.Argument(help="Preset to write into params.yaml; omit to list them.")] = None,
) -> None:
    """Write a preset (presets/NAME.yaml) into params.yaml, then run `dvc repro` or `dvc exp run`."""
    from ferpipe.presets.apply import apply_preset, available

    root = repo_root()
    if name is None:
        typer.echo("\n".join(available(root)))
        return
    keys = apply_preset(name, root)
    typer.echo(f"params.yaml: replaced {', '.join(keys)} from presets/{name}.yaml (back: `ferpipe restore`)")


@command()
def restore() -> None:
    """Back to the committed default after a preset or reproduce run, retraining nothing DVC's cache holds."""
    from ferpipe.presets.apply import restore_committed

    out = restore_committed(repo_root())
    ran = [line for line in out.splitlines() if line.startswith("Running stage")]
    restored = [line for line in out.splitlines() if "is cached - skipping run" in line]
    typer.echo(f"params.yaml, dvc.lock and metrics/ back to HEAD; {len(restored)} stages restored from DVC's run-cache")
    for line in ran:
        typer.echo(f"  reran (not in the run-cache): {line.split(chr(39))[1]}")


@command()
def reproduce(
    name: Annotated[str | None, typer.Argument(help="A report preset (presets/reports/NAME.yaml).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the reports with their claimed numbers.")] = False,
    variant: Annotated[str, typer.Option(help="base, report_protocol (the report's own), or another.")] = "base",
    epochs_scale: Annotated[float | None, typer.Option(help="Recipe epochs x this (0.02: a CPU smoke run).")] = None,
    subsample: Annotated[float | None, typer.Option(help="Share of every split to use (a quick run).")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue it (`dvc queue start` runs it).")] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="key.path=value over the preset (kept in the budget column).")
    ] = None,
) -> None:
    """Rebuild a published report as a DVC experiment, then record claimed against measured."""
    from ferpipe.presets import launch, reports
    from ferpipe.protocol import shout

    root = repo_root()
    if list_ or name is None:
        typer.echo("\n\n".join(reports.describe(reports.load_report(root, n)) for n in reports.report_names(root)))
        return
    report = reports.load_report(root, name)
    updates = launch.run_params(root, report, variant, epochs_scale, subsample, set_ or [])
    shout(launch.run_leaks(root, updates))
    code = launch.launch(root, report, variant, updates, queue, set_ or [])
    if code == 0 and not queue:
        typer.echo(f"recorded in results/{name}.json; the table: `ferpipe results` (README: --readme)")
    raise typer.Exit(code)


@command()
def results(
    readme: Annotated[bool, typer.Option("--readme", help="Also rewrite the README's results table.")] = False,
    record: Annotated[str | None, typer.Option(help="Record the workspace's metrics as a run of this report.")] = None,
    variant: Annotated[str, typer.Option(help="The variant that --record records.")] = "base",
) -> None:
    """The results tables of the rebuilt reports and the recipe runs, written from results/ (never by hand)."""
    from ferpipe.presets import recipes, reports
    from ferpipe.presets import results as report_results
    from ferpipe.presets import seeds as seed_records

    root = repo_root()
    if record:
        report_results.record(root, reports.load_report(root, record), variant, _project_params(root).document())
    tables = (report_results.results_table(root), recipes.recipes_table(root), seed_records.seeds_table(root))
    typer.echo("\n\n".join(tables))
    for module in (report_results, recipes, seed_records) if readme else ():
        if not module.update_readme(root):
            typer.echo(f"error: README.md has no {module.README_START!r} ... {module.README_END!r} markers", err=True)
            raise typer.Exit(1)


@command()
def recipe(
    preset: Annotated[str, typer.Argument(help="A preset (presets/PRESET.yaml) whose pipeline to run and record.")],
    name: Annotated[str | None, typer.Option(help="The record's name (default: the preset's).")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="key.path=value over the preset: a budget cut or the data's location (recorded)."),
    ] = None,
) -> None:
    """Run a preset's pipeline end to end (`dvc repro`, timed) and record what it measured, with its budget,
    in results/recipes/NAME.json; `ferpipe results --readme` puts the table in the README."""
    from ferpipe.presets import recipes

    root = repo_root()
    path = recipes.run_recipe(root, preset, name, set_ or [])
    typer.echo(f"recorded in {path.relative_to(root)}; back to the default: `ferpipe restore`\n")
    typer.echo(recipes.recipes_table(root))


@command()
def train(name: Annotated[str, typer.Argument(help="A model under params.yaml's models.")]) -> None:
    """Train one model as the train@NAME stage does; data-parallel under torchrun.

    For example `torchrun --nproc_per_node 4 --no-python ferpipe train cnn`: one process per
    GPU (gloo processes on a CPU), rank 0 logging to MLflow and writing the outputs.
    """
    from ferpipe.runner import run_stage
    from ferpipe.stages import train

    run_stage(train.run, name)


@command()
def gate(
    rev: Annotated[str | None, typer.Option(help="Baseline revision (default: thresholds.yaml's, else HEAD).")] = None,
    thresholds: Annotated[Path | None, typer.Option(help="Thresholds file (default: thresholds.yaml).")] = None,
) -> None:
    """Fail (exit 1) when a tracked metric fell past its tolerance or sits under its floor."""
    from ferpipe.checks.gate import run_gate

    passed, report = run_gate(repo_root(), thresholds, rev)
    typer.echo(report)
    raise typer.Exit(0 if passed else 1)


@command()
def seeds(
    model: Annotated[str, typer.Argument(help="A model under params.yaml's models.")],
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, one queued DVC experiment each.")] = "0,1,2",
    jobs: Annotated[int, typer.Option(help="Experiments at once (dvc queue start -j); 1 on one GPU or 2 cores.")] = 1,
    name: Annotated[str | None, typer.Option(help="Record as results/seeds/NAME.json (default: MODEL).")] = None,
    collect: Annotated[
        bool, typer.Option("--collect", help="Summarise the seeds-MODEL-SEED experiments already run; queue nothing.")
    ] = False,
    also: Annotated[
        str,
        typer.Option(help="Comma-separated models seeded alongside MODEL in each experiment (to compare over seeds)."),
    ] = "",
) -> None:
    """Train MODEL under N seeds (queued DVC experiments) and report each score's mean ± sd and range."""
    from ferpipe.presets.seeds import SEEDS_FOLDER, claim, run_seeds

    root = repo_root()
    params = _project_params(root)
    others = [m.strip() for m in also.split(",") if m.strip()]
    for wanted in (model, *others):
        if wanted not in params.models:
            raise ValueError(f"params.yaml: no model {wanted!r} under models (have: {', '.join(params.models)})")
    chosen = _seed_list(seeds)
    record = run_seeds(root, model, chosen, jobs, name=name, run=not collect, also=others)
    for score, summary in record["summary"].items():
        typer.echo(claim(score, summary))
    experiments = ", ".join(record["experiments"].values())
    typer.echo(f"per seed and summary: {SEEDS_FOLDER / f'{name or model}.json'} (experiments {experiments})")


@command()
def tune(
    model: Annotated[str | None, typer.Argument(help="A model under params.yaml's models (to run trials).")] = None,
    study: Annotated[
        str | None, typer.Option(help="The study's name (default: MODEL); workers sharing it join.")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Stop once the study has N finished trials (all workers).")] = None,
    minutes: Annotated[float | None, typer.Option(help="Stop this worker after M minutes.")] = None,
    show: Annotated[bool, typer.Option("--show", help="Print the study's trials and write its plots.")] = False,
    best: Annotated[bool, typer.Option("--best", help="Print the best trial and its `dvc exp run` command.")] = False,
    run_best: Annotated[bool, typer.Option("--run-best", help="Run the best trial as that DVC experiment.")] = False,
    overhead: Annotated[
        bool, typer.Option("--overhead", help="Benchmark: one trial of MODEL's recipe against its plain fit.")
    ] = False,
    repeats: Annotated[int, typer.Option(help="--overhead: alternating repeats of each side.")] = 3,
) -> None:
    """Search params.yaml's tune.space for MODEL with Optuna (TPE, pruning), trials logged to MLflow.

    The study lives in optuna.db beside mlflow.db, or in the database FERPIPE_OPTUNA_STORAGE names:
    the same command on another machine joins it. --show, --best and --run-best read a study.
    """
    from ferpipe import tracking
    from ferpipe.config import Paths
    from ferpipe.tuning import show as seeing
    from ferpipe.tuning.study import load_existing, storage_url
    from ferpipe.tuning.worker import Budget, run_worker

    root = repo_root()
    paths, params = Paths(root), _project_params(root)
    if overhead:
        from ferpipe.tuning.overhead import measure_overhead

        typer.echo(measure_overhead(paths, params, _named(model), repeats), nl=False)
        return
    if not (show or best or run_best):
        name = _named(model)
        run_worker(paths, params, name, study or name, Budget(trials, minutes), typer.echo)
        return
    found = load_existing(storage_url(paths), study or model)
    if show:
        typer.echo(seeing.trials_table(found), nl=False)
        written, skipped = seeing.write_plots(found, root / "reports" / "tune" / found.study_name)
        tracking.configure(params.mlflow.experiment, paths.home)
        seeing.attach_plots(found, written)
        for line in [*map(str, written), *(f"not drawn: {why}" for why in skipped)]:
            typer.echo(line)
    if best or run_best:
        command = seeing.best_command(found, params)  # first: a study with no completed trial is one clear error
        typer.echo(f"best: trial {found.best_trial.number}, val accuracy {found.best_value:.4f}")
        typer.echo("rerun it through the pipeline: " + " ".join(map(_quoted, command)))
        if run_best:
            raise typer.Exit(subprocess.run(command, cwd=root).returncode)


def _named(model: str | None) -> str:
    if model is None:
        raise ValueError("name the MODEL to tune (or --show / --best to read a study)")
    return model


def _quoted(word: str) -> str:
    """A word as a shell would need it typed."""
    import shlex

    return shlex.quote(word)


@command()
def comment(
    base: Annotated[str, typer.Option(help="The base branch or revision the pull request is compared with.")] = "main",
    out: Annotated[Path, typer.Option(help="Folder for report.md and the pictures it shows.")] = Path("ci_comment"),
) -> None:
    """Write the pull-request comment: the gate's table with intervals, and `dvc plots diff` as pictures."""
    from ferpipe.checks.pr_comment import write_comment

    path = write_comment(repo_root(), base, out)
    typer.echo(f"{path}: the comment (post it with `cml comment update {path}`)")


@command()
def stale() -> None:
    """Fail (exit 1) when committed metrics no longer match committed code and params."""
    from ferpipe.checks.stale import check

    changes = check(repo_root())
    stale = [c for c in changes if c.stale]
    for change in stale:
        typer.echo(f"stale: {change.stage}: {change.cause}: {change.where}")
    if stale:
        typer.echo("run `dvc repro` and commit dvc.lock and metrics/ (a modified output: `dvc checkout` or rerun)")
        raise typer.Exit(1)
    missing = sorted({c.stage for c in changes if c.cause != "always changed"})  # the watch stage always runs
    note = f" ({len(missing)} stages have outputs not in this workspace: `dvc pull` or `dvc repro`)" if missing else ""
    typer.echo(f"up to date: committed metrics match committed code and params{note}")


@command()
def compare(
    a: Annotated[
        str,
        typer.Argument(
            help="NAME or NAME@REV: a model, ensemble_<method> or student; REV a git revision or DVC experiment."
            " With --seeds, {seed} stands for each seed (cnn@seeds-cnn-{seed})."
        ),
    ],
    b: Annotated[str, typer.Argument(help="The other side, compared against A on the same faces.")],
    split: Annotated[str, typer.Option(help="test, or val (what chose the champion).")] = "test",
    seeds: Annotated[
        str | None, typer.Option(help="Comma-separated seeds: A and B over each seed, paired seed by seed, and pooled.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the comparison as JSON (a record to keep).")] = None,
) -> None:
    """B against A on the same faces: accuracy difference with its 95% interval, McNemar's p, per class."""
    from ferpipe.evaluate.compare import load_side, paired_sides

    if split not in ("val", "test"):
        raise ValueError(f"--split {split!r}: choose val or test")
    root = repo_root()
    if seeds is not None:
        found = _compare_over_seeds(root, a, b, split, _seed_list(seeds))
    else:
        found = paired_sides(load_side(root, a, split), load_side(root, b, split))
        _print_comparison(found, split)
    if out is not None:
        from ferpipe.io import write_json

        write_json(out, {"split": split, **found.as_dict()})
        typer.echo(f"written to {out}")


def _seed_list(text: str) -> list[int]:
    try:
        chosen = [int(seed) for seed in text.split(",") if seed.strip()]
    except ValueError:
        raise ValueError(f"--seeds {text!r}: whole numbers separated by commas, such as 0,1,2") from None
    if len(set(chosen)) < 2:
        raise ValueError(f"--seeds {text!r}: at least two different seeds")
    return chosen


def _compare_over_seeds(root: Path, a: str, b: str, split: str, seeds: list[int]) -> Any:
    """A and B under each seed (``{seed}`` in their names), paired seed by seed on the same faces, and pooled."""
    from ferpipe.evaluate.compare import check_same_faces, load_side
    from ferpipe.evaluate.uncertainty import compare_over_seeds
    from ferpipe.tables import render

    if "{seed}" not in a or "{seed}" not in b:
        raise ValueError("--seeds: name each seed's side with {seed} in A and B, such as cnn@seeds-cnn-{seed}")
    sides = [(load_side(root, a.format(seed=s), split), load_side(root, b.format(seed=s), split)) for s in seeds]
    for side_a, side_b in sides:
        check_same_faces(side_a, side_b)
    if any(side_a.faces != sides[0][0].faces for side_a, _ in sides):
        raise ValueError("--seeds: the seeds' experiments were scored on different faces; pooling needs the same ones")
    labels = sides[0][0].labels
    names = (a.replace("{seed}", "*"), b.replace("{seed}", "*"))
    found = compare_over_seeds(labels, [x.predicted for x, _ in sides], [y.predicted for _, y in sides], names, seeds)
    rows = [
        [
            str(seed),
            f"{c.accuracy_a * 100:.2f}%",
            f"{c.accuracy_b * 100:.2f}%",
            f"{c.difference * 100:+.2f}",
            f"{c.interval[0] * 100:+.2f} to {c.interval[1] * 100:+.2f}",
            f"{c.p_value:.3g}",
        ]
        for seed, c in zip(seeds, found.per_seed, strict=True)
    ]
    mean_a = sum(c.accuracy_a for c in found.per_seed) / len(seeds)
    mean_b = sum(c.accuracy_b for c in found.per_seed) / len(seeds)
    rows.append(
        [
            "pooled",
            f"{mean_a * 100:.2f}%",
            f"{mean_b * 100:.2f}%",
            f"{found.difference * 100:+.2f}",
            f"{found.interval[0] * 100:+.2f} to {found.interval[1] * 100:+.2f}",
            f"{found.p_value:.3g}",
        ]
    )
    columns = [("seed", "left"), ("A", "right"), ("B", "right"), ("B - A, points", "right")]
    columns += [("95% interval", "right"), ("p", "right")]
    title = f"{names[1]} (B) against {names[0]} (A) on the same {found.n} {split} faces, seed by seed"
    typer.echo(render(title, columns, rows), nl=False)
    typer.echo(found.sentence())
    return found


def _print_comparison(found: Any, split: str) -> None:
    from ferpipe.tables import render

    rows = [
        [found.a, f"{found.accuracy_a * 100:.2f}%", "", ""],
        [found.b, f"{found.accuracy_b * 100:.2f}%", "", ""],
        [
            f"{found.b} - {found.a}",
            f"{found.difference * 100:+.2f} points",
            f"{found.interval[0] * 100:+.2f} to {found.interval[1] * 100:+.2f}",
            f"{found.p_value:.3g} ({found.only_a_right} vs {found.only_b_right} faces)",
        ],
    ]
    columns = [
        ("", "left"),
        ("accuracy", "right"),
        ("95% interval (paired bootstrap)", "right"),
        ("McNemar p", "right"),
    ]
    typer.echo(render(f"{found.b} against {found.a} on the same {found.n} {split} faces", columns, rows), nl=False)
    per_class = [[name, f"{gain * 100:+.1f}"] for name, gain in found.per_class.items()]
    columns = [("class", "left"), ("recall of B - recall of A, points", "right")]
    typer.echo(render("per class", columns, per_class), nl=False)
    typer.echo(found.sentence())


@command()
def runs(
    pipelines: Annotated[int, typer.Option(help="How many of the newest pipeline runs to show.")] = 5,
    metric: Annotated[list[str] | None, typer.Option(help="Metric columns (repeatable).")] = None,
    ui: Annotated[str, typer.Option(help="MLflow UI address for the compare-view link.")] = "http://127.0.0.1:5000",
) -> None:
    """Compare runs in the tracking store: pipelines with their model and ensemble runs."""
    from ferpipe import tracking
    from ferpipe.tracking.runs import DEFAULT_METRICS, alias_runs, compare_url, load_runs, runs_table

    root = repo_root()
    params = _project_params(root)
    experiment = params.mlflow.experiment
    tracking.configure(experiment, root)
    runs = load_runs(experiment)
    aliases = alias_runs(params.mlflow.registered_model)
    typer.echo(runs_table(runs, metric or DEFAULT_METRICS, pipelines, aliases), nl=False)
    if url := compare_url(runs, ui):
        typer.echo(f"compare the newest pipeline's runs side by side (after `ferpipe ui`):\n  {url}")


@command()
def promote(version: Annotated[str, typer.Argument(help="The registered model version to make @champion.")]) -> None:
    """Point the registry's @champion at VERSION: a person's decision, whatever the numbers say."""
    import mlflow

    from ferpipe import tracking
    from ferpipe.tracking import registry

    root = repo_root()
    name = _project_params(root).mlflow.registered_model
    tracking.connect(root)
    found = registry.promote(mlflow.MlflowClient(), name, version)
    val = found.tags.get(registry.VAL_TAG, "?")
    typer.echo(f"models:/{name}@champion -> version {found.version} (validation accuracy {val})")


@command()
def report() -> None:
    """Write metrics/plots/*.csv and the self-contained reports/report.html from the current metrics."""
    from ferpipe.runner import run_stage
    from ferpipe.stages import report as report_stage

    run_stage(report_stage.run)


@command()
def predict(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Image or video files, or folders of them.", show_default=False)
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="One trained model of the workspace (default: the registry's @champion).")
    ] = None,
    ensemble: Annotated[bool, typer.Option("--ensemble", help="The ensemble of params' members.")] = False,
    method: Annotated[str, typer.Option(help="Ensemble method: average, weighted, vote.")] = "weighted",
    out: Annotated[Path | None, typer.Option(help="Write the rows to a .csv or .json file.")] = None,
    annotate: Annotated[
        Path | None, typer.Option(help="Folder for copies with boxes and labels drawn (videos as MP4).")
    ] = None,
    every: Annotated[int, typer.Option(min=1, help="Video: score every Nth frame.")] = 1,
    smoothing: Annotated[
        float, typer.Option(min=0.0, max=0.99, help="Video: weight of a face's history in its moving average.")
    ] = 0.6,
    camera: Annotated[
        int | None, typer.Option(help="Live: read OpenCV camera INDEX until Ctrl-C, a row per face per frame.")
    ] = None,
) -> None:
    """Detect the faces in photos and videos (tracked across frames) and classify each one's expression."""
    from ferpipe.config import Paths
    from ferpipe.serving import predict as fp
    from ferpipe.serving import video

    if model and ensemble:
        raise typer.BadParameter("give --model or --ensemble, not both")
    if (camera is None) == (not paths):
        raise typer.BadParameter("give image or video files, or --camera, not both")
    root = repo_root()
    if out is not None:
        fp.check_output(out)
    files = [] if camera is not None else list(fp.image_files(paths or [], fp.IMAGE_SUFFIXES | video.VIDEO_SUFFIXES))
    if camera is None and not files:
        known = ", ".join(sorted(fp.IMAGE_SUFFIXES | video.VIDEO_SUFFIXES))
        raise ValueError(f"no image or video files in {', '.join(map(str, paths or []))} ({known})")
    answerer = fp.load_classifier(Paths(root), _project_params(root), model, method if ensemble else None)
    if answerer.warning:
        typer.echo(f"warning: {answerer.answered_by} was {answerer.warning}", err=True)
    if camera is not None:
        rows = _watch(camera, answerer, every, smoothing)
    else:
        images = [f for f in files if not video.is_video(f)]
        rows = _predict_images(images, answerer, annotate)
        for clip in (f for f in files if video.is_video(f)):
            rows += video.predict_file(clip, answerer.classifier, every, smoothing, annotate)
    if out is not None:
        fp.write_results(rows, out)
    if camera is None and images:
        typer.echo(fp.results_table([r for r in rows if "face" in r], len(images), answerer.answered_by), nl=False)
    if camera is None and len(images) < len(files):
        video_rows = [r for r in rows if "face" not in r]
        typer.echo(video.tracks_table(video_rows, answerer.answered_by), nl=False)


def _predict_images(images: list[Path], answerer: Any, annotate: Path | None) -> list[dict[str, Any]]:
    """The rows of the photos, and their annotated copies."""
    from ferpipe.serving import predict as fp

    rows, by_file = [], {}
    for result, picture in fp.predict_files(images, answerer.classifier):
        rows.append(result.as_dict())
        by_file.setdefault(result.file, (picture, []))[1].append(result)
    if annotate is not None:
        for i, (file, (picture, results)) in enumerate(by_file.items()):
            if picture is not None:
                fp.annotate(picture, results, annotate / f"{i:04d}_{Path(file).stem}.png")
    return rows


def _watch(camera: int, answerer: Any, every: int, smoothing: float) -> list[dict[str, Any]]:
    """The live camera: the video path over ``cv2.VideoCapture(camera)``, a line per face until Ctrl-C."""
    from ferpipe.serving import video

    rows: list[dict[str, Any]] = []
    typer.echo(f"camera {camera}: answered by {answerer.answered_by}; Ctrl-C stops", err=True)
    try:
        for row in video.watch(camera, answerer.classifier, every, smoothing):
            rows.append(row)
            if row["track"] is not None:
                typer.echo(f"{row['time'] or row['frame']}\ttrack {row['track']}\t{row['label']}")
    except KeyboardInterrupt:
        typer.echo(f"stopped after {len(rows)} rows", err=True)
    return rows


@command()
def explain(
    photos: Annotated[list[Path], typer.Argument(help="Photos, or folders of them.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Folder for the copies with each face's Grad-CAM map drawn over it.")],
    model: Annotated[
        str | None,
        typer.Option(help="A trained convolutional model (default: the best on validation)."),
    ] = None,
) -> None:
    """Where a model looks: each face in the photos under its Grad-CAM map, labelled as predict labels it."""
    from ferpipe.config import Paths
    from ferpipe.serving import explain as fx
    from ferpipe.serving import predict as fp
    from ferpipe.serving.model_card import SYNTHETIC_WARNING, synthetic_only

    root = repo_root()
    files = list(fp.image_files(photos))
    if not files:
        raise ValueError(f"no photos in {', '.join(map(str, photos))} ({', '.join(sorted(fp.IMAGE_SUFFIXES))})")
    params = _project_params(root)
    name, model_file = fx.chosen_model(Paths(root), model)
    classifier, found = fx.loaded(name, model_file, params.evaluate.tta)
    if synthetic_only(params):
        typer.echo(f"warning: model {name} was {SYNTHETIC_WARNING}", err=True)
    rows = fx.explain_files(files, classifier, found, out)
    typer.echo(fp.results_table(rows, len(files), f"model {name}, Grad-CAM at {found.layer_name}"), nl=False)
    typer.echo(f"{sum(1 for r in rows if 'picture' in r)} faces drawn in {out}")


@command()
def detector(
    paths: Annotated[list[Path], typer.Argument(help="Photos or videos (or folders) with a known face count each.")],
    expected: Annotated[int, typer.Option(min=0, help="Faces in every photo or frame.")] = 1,
    every: Annotated[int, typer.Option(min=1, help="Video: use every Nth frame.")] = 1,
) -> None:
    """How often each face cascade OpenCV bundles misses or double-counts faces on your pictures."""
    from ferpipe.serving.detector_check import grey_pictures, score_cascades, scores_table
    from ferpipe.serving.predict import IMAGE_SUFFIXES, image_files
    from ferpipe.serving.video import VIDEO_SUFFIXES

    files = list(image_files(paths, IMAGE_SUFFIXES | VIDEO_SUFFIXES))
    pictures = list(grey_pictures(files, every))
    if not pictures:
        raise ValueError(f"no photos or video frames in {', '.join(map(str, paths))}")
    typer.echo(scores_table(score_cascades(pictures, expected), expected), nl=False)


@command()
def export(
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    model: Annotated[list[str] | None, typer.Option(help="Model(s) to export (default: every trained one).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the exported files.")] = Path("exports"),
) -> None:
    """Export trained models (ONNX) with the test-time views of params' evaluate.tta inside the graph,
    each checked against torch with onnxruntime on test images."""
    from ferpipe.config import Paths
    from ferpipe.data.dataset import load_split
    from ferpipe.evaluate.calibration import temperature_of
    from ferpipe.io import read_json
    from ferpipe.serving.export import FORMATS, export_onnx

    if format not in FORMATS:
        raise typer.BadParameter(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    paths = Paths(repo_root())
    trained = paths.trained_models()
    names = model or list(trained)
    if not names:
        typer.echo("error: no trained models in data/models; run `dvc repro`", err=True)
        raise typer.Exit(1)
    check = load_split(paths.audited, "test").images[:64]
    tta = _project_params(paths.root).evaluate.tta
    for name in names:
        target = out / f"{name}.onnx"
        temperature = temperature_of(read_json(paths.detail(name)))
        model_file = trained.get(name, paths.model_file(name))
        difference = export_onnx(model_file, target, check, tta, temperature)
        views = "" if tta == "none" else f" (test-time views: {tta})"
        typer.echo(
            f"{target}{views}: max |logit difference| to torch on {len(check)} test images = {difference:.1e}; "
            f"calibrated probabilities are softmax(logits / {temperature:g}) (metadata 'temperature')"
        )


@command()
def bench(
    model: Annotated[list[str] | None, typer.Option(help="Model(s) from params.yaml (default: all).")] = None,
    batches: Annotated[int, typer.Option(help="Batches timed per data path.")] = 100,
    steps: Annotated[int, typer.Option(help="Batches per epoch of ferpipe's loop, per model.")] = 40,
    repeats: Annotated[int, typer.Option(help="Epochs of ferpipe's loop timed (after one untimed).")] = 5,
    seconds: Annotated[
        float, typer.Option(help="Seconds at least timing each plain step (torch.utils.benchmark).")
    ] = 3.0,
    batch_size: Annotated[int, typer.Option(help="Batch size of the data paths.")] = 64,
    workers: Annotated[int, typer.Option(help="DataLoader workers of the usual loaders.")] = 2,
    data: Annotated[Path, typer.Option(help="Training split to read (images.npy, labels.npy).")] = Path(
        "data/balanced"
    ),
    repro: Annotated[bool, typer.Option(help="Also time a `dvc repro` that has nothing to do.")] = True,
) -> None:
    """Time ferpipe's data path against the usual loaders, and its training loop against a plain PyTorch step."""
    from ferpipe.checks.bench import BenchOptions, run_bench

    root = repo_root()
    options = BenchOptions(tuple(model or ()), batches, steps, repeats, seconds, batch_size, workers, data, repro)
    params = _project_params(root)
    typer.echo(run_bench(root, params.models, params.train, options), nl=False)


@command()
def loadtest(
    clients: Annotated[
        str, typer.Option(help="Concurrent clients: one number, or several (1,2,4,8) for one run each.")
    ] = "1,2,4,8",
    seconds: Annotated[float, typer.Option(help="How long each run sends requests.")] = 20.0,
    max_requests: Annotated[int, typer.Option(help="At most this many requests per run.")] = 5000,
    hostile: Annotated[
        float, typer.Option(help="Share of hostile requests (pixel bombs, garbage, oversized batches).")
    ] = 0.3,
    model: Annotated[str, typer.Option(help="What to serve: a models:/ URI (default: the registered @champion).")] = "",
    workers: Annotated[int, typer.Option(help="Server worker processes (mlflow models serve -w).")] = 1,
    out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON here.")] = None,
) -> None:
    """Load-test the served champion on 127.0.0.1: requests/s, latency, answers per kind, server memory."""
    import json
    import tempfile

    import numpy as np

    from ferpipe import tracking
    from ferpipe.config import Paths
    from ferpipe.io import write_json
    from ferpipe.serving.loadtest import LoadOptions, render, request_mix, run_load, served

    root = repo_root()
    params = _project_params(root)
    counts = [int(n) for n in clients.split(",") if n.strip()]
    if not counts or min(counts) < 1:
        raise ValueError(f"--clients {clients!r}: one or more positive numbers, such as 1,2,4")
    faces_file = Paths(root).audited / "images.npy"
    if not faces_file.exists():
        raise FileNotFoundError(f"{faces_file}: no prepared faces to send; run `dvc repro` first")
    faces = np.load(faces_file, mmap_mode="r")[:8].copy()
    uri = model or f"models:/{params.mlflow.registered_model}@champion"
    results = []
    with (
        tempfile.TemporaryDirectory() as folder,
        served(uri, tracking.connect(root), Path(folder) / "serve.log", workers) as (url, memory),
    ):
        typer.echo(f"serving {uri} at {url} ({workers} worker(s)); {len(counts)} run(s) of {seconds:g} s")
        for n in counts:
            options = LoadOptions(clients=n, seconds=seconds, max_requests=max_requests, hostile_share=hostile)
            results.append(run_load(url, request_mix(faces), options, memory))
    typer.echo(render(results), nl=False)
    if out is not None:
        write_json(out, json.loads(json.dumps(results)))


@command()
def server(
    backend_store_uri: Annotated[
        str,
        typer.Option(
            envvar="FERPIPE_BACKEND_STORE_URI",
            help="Database for runs and the registry; keep the password in ~/.pgpass, not here.",
        ),
    ] = DEFAULT_BACKEND,
    artifacts_destination: Annotated[
        str, typer.Option(envvar="FERPIPE_ARTIFACTS_DESTINATION", help="Folder or s3://bucket/prefix for artifacts.")
    ] = "mlartifacts",
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for the team's network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    workers: Annotated[int, typer.Option(help="Server worker processes.")] = 2,
    allowed_hosts: Annotated[
        str,
        typer.Option(
            envvar="FERPIPE_ALLOWED_HOSTS",
            help="Comma-separated names teammates reach the server by (mlflow.lan); this machine's own are allowed.",
        ),
    ] = "",
    cors_allowed_origins: Annotated[
        str | None,
        typer.Option(envvar="FERPIPE_CORS_ALLOWED_ORIGINS", help="Comma-separated web origins allowed to call it."),
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth", help="Require a login (MLflow basic-auth); default: on when bound beyond localhost."
        ),
    ] = None,
    admin_password_file: Annotated[
        Path | None,
        typer.Option(help=f"File holding the admin's password (chmod 600); else ${ADMIN_PASSWORD_ENV}."),
    ] = None,
    auth_database_uri: Annotated[
        str, typer.Option(envvar="FERPIPE_AUTH_DATABASE_URI", help="Database of users and permissions.")
    ] = "sqlite:///mlflow_auth.db",
    default_permission: Annotated[
        str, typer.Option(help="What a user may do with others' experiments and models: READ, EDIT, MANAGE.")
    ] = "READ",
) -> None:
    """Run a shared MLflow tracking server: PostgreSQL backend store, artifacts served by the server."""
    import tempfile

    from ferpipe.tracking.server import ServerSettings, redact, server_command, server_environment

    settings = ServerSettings(
        backend_store_uri,
        artifacts_destination,
        host,
        port,
        workers,
        tuple(name.strip() for name in allowed_hosts.split(",") if name.strip()),
        cors_allowed_origins,
        auth,
        auth_database_uri,
        default_permission.upper(),
    )
    with tempfile.TemporaryDirectory(prefix="ferpipe-server-") as folder:
        environment = server_environment(settings, Path(folder), admin_password_file)
        typer.echo(
            f"MLflow server on http://{host}:{port}: runs in {redact(backend_store_uri)}, "
            f"artifacts in {artifacts_destination}"
        )
        typer.echo(f"point the pipeline at it: export MLFLOW_TRACKING_URI=http://{host}:{port}")
        if settings.authenticated:
            typer.echo(
                f"login required (MLflow basic-auth; users in {redact(auth_database_uri)}, others' work is "
                f"{settings.default_permission} to them): teammates export MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD"
            )
        raise typer.Exit(subprocess.call(server_command(settings), env=environment))


@command()
def ui(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1 only).")] = 5000,
    host: Annotated[str, typer.Option(help="Interface to bind; keep it local.")] = "127.0.0.1",
) -> None:
    """Start the MLflow UI on this project's tracking store."""
    from ferpipe import tracking

    root = repo_root()
    uri = tracking.tracking_uri(root)
    experiment = tracking.configure(_project_params(root).mlflow.experiment, root)
    typer.echo(f"MLflow UI for {uri}; the pipeline's training runs:")
    typer.echo(f"  {tracking.runs_page(f'http://{host}:{port}', experiment)}")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    raise typer.Exit(subprocess.call(cmd))


if __name__ == "__main__":
    app()
