"""End to end: ``dvc repro`` in a temporary copy of the project with tiny params."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from ferpipe.config import load_yaml
from ferpipe.data.dataset import CROSS, load_manifest, load_split
from ferpipe.device import cpu_has_bf16
from ferpipe.evaluate.robustness import views
from ferpipe.labels import CLASSES
from tests.conftest import REPO
from tests.project import CROSS_SOURCE, MODELS, STUDENT, env, make_project, run, tiny_params
from tests.services import free_port

pytestmark = pytest.mark.slow
# The repo's floors are for the default data; the tiny project keeps the tolerances only.
TINY_GATE = {"gate": {**load_yaml(REPO / "thresholds.yaml")["gate"], "floors": {}}}
EXP_SHOW_FLAGS = ["--only-changed", "--drop", "metrics/|data/"]  # the README's `dvc exp show`


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC copy of the project whose pipeline has been reproduced once."""
    return make_project(tmp_path_factory.mktemp("project"), tiny_params("e2e"), TINY_GATE)


def _metrics(project: Path, name: str) -> dict:
    return json.loads((project / "metrics" / f"{name}.json").read_text())


def _details(project: Path, name: str) -> dict:
    return json.loads((project / "metrics" / "details" / f"{name}.json").read_text())


def _client(project: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    return mlflow.MlflowClient()


def test_every_output_exists(project: Path) -> None:
    for model in MODELS:
        assert (project / "data" / "models" / model / "model.pt").exists()
        assert [p.name for p in (project / "data" / "models" / model).iterdir()] == ["model.pt"]
        assert (project / "data" / "predictions" / model / "test.npy").exists()
        assert (project / "data" / "predictions" / model / "confusion.png").exists()
        assert (project / "metrics" / "curves" / f"{model}.csv").exists()
    for method in ("average", "weighted", "vote"):
        assert (project / "metrics" / "confusion" / f"ensemble_{method}.csv").exists()
    assert (project / "data" / "distilled" / STUDENT / "model.pt").exists()
    assert (project / "data" / "distilled" / STUDENT / "predictions" / "test.npy").exists()
    assert (project / "metrics" / "audit_pairs.png").exists()
    assert _details(project, "audit")["policy"] == "drop_from_train"
    pngs = [str(p.relative_to(project)) for p in (project / "metrics").rglob("*.png") if "saliency" not in p.parts]
    assert pngs == ["metrics/audit_pairs.png"]  # no confusion PNG twins of the dvc plots


def test_cnn_and_ensembles_beat_chance_and_logreg(project: Path) -> None:
    chance = 1 / 7  # balanced accuracy of guessing
    cnn = _details(project, "cnn")["test"]["balanced_accuracy"]
    assert cnn > chance + 0.1
    assert cnn > _details(project, "logreg")["test"]["balanced_accuracy"]
    ensemble = _details(project, "ensemble")
    assert ensemble["members"] == list(MODELS) and set(ensemble["weights"]) == set(MODELS)
    for method in ("average", "weighted", "vote"):
        assert ensemble[method]["test"]["balanced_accuracy"] > chance + 0.1


def test_the_test_only_source_is_scored_by_every_model_method_and_student_and_never_trained_on(
    project: Path,
) -> None:
    import mlflow

    audited = load_manifest(project / "data" / "audited")
    cross = audited[audited["split"] == CROSS]
    assert set(cross["source"]) == {CROSS_SOURCE} and len(cross) > 0
    assert CROSS not in set(load_manifest(project / "data" / "balanced")["split"])  # never trained on
    labels = cross["label"].to_numpy()
    predictions = {m: project / "data" / "predictions" / m for m in MODELS}
    predictions[STUDENT] = project / "data" / "distilled" / STUDENT / "predictions"
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`ferpipe.kind` = 'model'")
    for name, folder in predictions.items():
        scored = _details(project, name)["cross"][CROSS_SOURCE]
        # the recorded accuracy is the one its saved probabilities give on the audited labels
        accuracy = float((np.load(folder / f"cross_{CROSS_SOURCE}.npy").argmax(axis=1) == labels).mean())
        assert scored["n"] == len(cross) and abs(scored["accuracy"] - accuracy) < 1e-6
        assert sum(map(sum, scored["confusion"])) == len(cross) and "recall" in scored["per_class"]["happy"]
        low, high = scored["interval"]["accuracy"]
        assert low <= accuracy <= high
        logged = runs.loc[runs["tags.ferpipe.model"] == name, f"metrics.cross/{CROSS_SOURCE}/accuracy"]
        assert list(logged) == [pytest.approx(accuracy)]
    ensemble = _details(project, "ensemble")
    for method in ("average", "weighted", "vote"):
        assert ensemble[method]["cross"][CROSS_SOURCE]["n"] == len(cross)
    page = (project / "reports" / "report.html").read_text()
    assert "Cross-dataset: the test-only sources" in page and f"{CROSS_SOURCE} (n={len(cross)})" in page


def test_every_model_method_and_student_is_scored_on_the_same_corrupted_faces(project: Path) -> None:
    import mlflow

    labels = load_split(project / "data" / "balanced", "test").labels
    predictions = {m: project / "data" / "predictions" / m for m in MODELS}
    predictions[STUDENT] = project / "data" / "distilled" / STUDENT / "predictions"
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`ferpipe.kind` = 'model'")
    for name, folder in predictions.items():
        robust = np.load(folder / "robust_test.npy")  # the test faces clean, then under each corruption
        scored = _details(project, name)["robustness"]
        assert robust.shape == (1 + len(views()), len(labels), len(CLASSES)) and scored["n"] == len(labels)
        assert scored["clean_accuracy"] == pytest.approx(float((robust[0].argmax(axis=1) == labels).mean()))
        for i, (corruption, severity) in enumerate(views(), start=1):  # each is what the saved probabilities give
            accuracy = float((robust[i].argmax(axis=1) == labels).mean())
            assert scored["corruptions"][corruption][str(severity)]["accuracy"] == pytest.approx(accuracy)
        assert scored["weakest"] == min(scored["mean_by_corruption"], key=scored["mean_by_corruption"].get)
        logged = runs.loc[runs["tags.ferpipe.model"] == name, "metrics.robust/mean_accuracy"]
        assert list(logged) == [pytest.approx(scored["mean_accuracy"])]
    table = _details(project, "robustness")
    assert set(table["models"]) == {*MODELS, "ensemble_average", "ensemble_weighted", "ensemble_vote"}
    assert table["models"]["cnn"] == _details(project, "cnn")["robustness"]
    plotted = pd.read_csv(project / "metrics" / "plots" / "robustness.csv")
    assert set(plotted["model"]) == {*table["models"], STUDENT} and set(plotted["severity"]) == {0, 1, 2, 3}
    page = (project / "reports" / "report.html").read_text()
    assert "Robustness: the test faces corrupted" in page and "occlude mouth" in page


def test_convolutional_models_get_grad_cam_maps_and_the_others_are_listed_as_skipped(project: Path) -> None:
    saliency = project / "metrics" / "saliency"
    assert sorted(p.name for p in (saliency / "cnn").iterdir()) == ["saliency.png", "saliency_examples.png"]
    assert _details(project, "cnn")["saliency"]["map"][0] >= 6  # never the last 2x2 or 3x3 layer
    assert [p.name for p in (saliency / "logreg").iterdir()] == ["skipped.txt"]
    assert "skipped" in _details(project, "logreg")["saliency"]
    page = (project / "reports" / "report.html").read_text()
    assert "Where the models look: Grad-CAM" in page and "Skipped: logreg (no convolutional layer" in page
    assert "<h3>cnn</h3>" in page


def test_contempt_dropped_and_balance_touched_training_only(project: Path) -> None:
    report = _details(project, "data_report")
    assert any("contempt" in reason for reason in report["dropped"])
    balance = _details(project, "balance")
    assert balance["train_after"]["disgust"] == 40 > balance["train_before"]["disgust"]
    fer = report["counts"]["fer2013"]
    assert balance["val_untouched"] == fer["val"] and balance["test_untouched"] == fer["test"]


def _stages_run(out: str) -> list[str]:
    """The stages a `dvc repro` ran, but the watch stage, which always runs (it fingerprints the
    sources, and changes nothing when they did not change)."""
    ran = (line.split("'")[1] for line in out.splitlines() if line.startswith(("Running stage", "Would run stage")))
    return sorted(name for name in ran if name != "watch")


def _nothing_to_run(status: str) -> bool:
    """`dvc status` with nothing to do but the always-run watch stage."""
    return status.split() == ["watch:", "always", "changed"]


def test_second_repro_runs_nothing(project: Path) -> None:
    out = run(["dvc", "repro"], project)
    assert "Running stage 'watch'" in out and _stages_run(out) == []


def test_mlflow_holds_one_run_per_model_with_curves(project: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`ferpipe.kind` = 'model'")
    assert sorted(runs["tags.ferpipe.model"]) == sorted([*MODELS, STUDENT])
    client = mlflow.MlflowClient()
    for _, row in runs.iterrows():
        name = row["tags.ferpipe.model"]
        history = client.get_metric_history(row["run_id"], "val/accuracy")
        assert len(history) == _details(project, f"train/{name}")["epochs_run"]
        assert row["metrics.test/accuracy"] > 0
        assert row["tags.dvc.stage"] == (f"distill@{name}" if name == STUDENT else f"train@{name}")


def test_mlflow_shows_what_ran_named_linked_and_resolved(project: Path) -> None:
    """The experiment opens on training runs; logged models carry the model's name and its metrics;
    the data is a dataset input; params are the ones that ran (no bf16 on a CPU, the real balancing)."""
    import mlflow

    client = _client(project)
    experiment = client.get_experiment_by_name("e2e")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`ferpipe.kind` = 'model'")
    for _, row in runs.iterrows():
        name = row["tags.ferpipe.model"]
        # bf16 autocast where this CPU computes it natively; channels-last for models it does not crash
        assert row["params.amp"] == ("bf16" if cpu_has_bf16() else "none") and row["params.device"] == "cpu"
        assert row["params.channels_last"] == "True"
        assert row["params.balance.method"] == "augment"
        (model,) = mlflow.search_logged_models(
            experiment_ids=[experiment.experiment_id],
            filter_string=f"source_run_id = '{row['run_id']}'",
            output_format="list",
        )
        assert model.name == name and {m.key for m in model.metrics} >= {"best_val_accuracy", "test/accuracy"}
        inputs = client.get_run(row["run_id"]).inputs.dataset_inputs
        assert {d.dataset.name for d in inputs} == {"balanced/training", "balanced/validation"}
        assert {d.dataset.digest for d in inputs} == {row["tags.data.hash"]}


def test_dvc_metrics_and_plots_show(project: Path) -> None:
    shown = run(["dvc", "metrics", "show"], project)
    header, *rows = shown.strip().splitlines()
    assert header.split()[1:] == sorted(header.split()[1:]) and "test_acc" in header.split()
    assert max(len(line) for line in shown.splitlines()) <= 160, shown  # one row per file, a few columns
    assert len(rows) == len(MODELS) + 1 + 3 + 3  # models, the student, ensemble methods, the best, prepare, audit
    run(["dvc", "plots", "show", "-o", "plots_html"], project)
    assert (project / "plots_html" / "index.html").exists()
    done = subprocess.run(["dvc", "plots", "show", "--json"], cwd=project, env=env(), capture_output=True, text=True)
    shown = json.loads(done.stdout)
    assert not shown.get("errors"), shown.get("errors")
    robustness = shown["data"]["robustness"][0]["content"]["data"]["values"]
    assert {row["model"] for row in robustness} >= {*MODELS, STUDENT, "ensemble_weighted"}
    curves = shown["data"]["validation_accuracy"][0]["content"]["data"]["values"]
    assert {row["model"] for row in curves} == set(MODELS)  # every model on one chart
    sets = {row["set"] for row in shown["data"]["class_distribution"][0]["content"]["data"]["values"]}
    assert {"train, before balancing", "train, after balancing"} <= sets
    names = [*MODELS, STUDENT, "ensemble_average", "ensemble_weighted", "ensemble_vote"]
    confusion = {key: shown["data"][key][0]["content"] for key in shown["data"] if "confusion" in key}
    assert sorted(confusion) == sorted(f"metrics/confusion/{name}.csv" for name in names)  # one chart each
    for key, spec in confusion.items():
        name = Path(key).stem.replace("ensemble_", "ensemble (") + (")" if "ensemble_" in key else "")
        assert spec["title"].startswith(name), spec["title"]  # each chart says whose matrix it is
        assert spec["spec"]["resolve"]["scale"]["color"] == "independent"  # counts and shares, each its own scale


def test_report_is_one_self_contained_page(project: Path) -> None:
    page = (project / "reports" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 4 + len(MODELS)  # faces, curves, scores, classes, confusions
    assert "src='http" not in page and "Per-class F1" in page
    assert "Distillation: one model taught by the ensemble" in page and STUDENT in page


def test_pipeline_run_holds_the_model_and_ensemble_runs(project: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["e2e"])
    pipelines = runs[runs["tags.ferpipe.kind"] == "pipeline"]
    first = pipelines.sort_values("start_time").iloc[0]
    children = runs[runs["tags.mlflow.parentRunId"] == first["run_id"]]
    names = sorted(children["tags.mlflow.runName"])
    best = _details(project, "ensemble")["best"]["name"]
    ensembles = ["ensemble_average", "ensemble_vote", "ensemble_weighted"]
    assert names == sorted([*MODELS, *ensembles, f"classifier: {best}", STUDENT, f"classifier: {STUDENT}"])
    assert first["status"] == "FINISHED" and first["params.ensemble.members"] == str(list(MODELS))
    ensemble = children[children["tags.mlflow.runName"] == "ensemble_weighted"].iloc[0]
    model_ids = children[children["tags.ferpipe.kind"] == "model"].set_index("tags.ferpipe.model")["run_id"]
    assert ensemble["tags.ferpipe.member_run_ids"] == ",".join(model_ids[m] for m in MODELS)
    for _, child in children.iterrows():  # one key set for models and ensembles
        assert child["metrics.test/accuracy"] > 0 and child["metrics.val_final/accuracy"] > 0


def test_the_champion_is_registered_and_answers(project: Path) -> None:
    import mlflow
    import numpy as np

    best = _details(project, "ensemble")["best"]
    student = _details(project, f"distill/{STUDENT}")["student"]
    if student["val_accuracy"] > best["val_accuracy"]:  # registered after the ensemble's best: it must beat it
        best = {"name": STUDENT, "val_accuracy": student["val_accuracy"]}
    version = _client(project).get_model_version_by_alias("ferpipe", "champion")
    champion_run = mlflow.get_run(version.run_id)
    assert champion_run.data.tags["mlflow.runName"] == f"classifier: {best['name']}"
    assert float(version.tags["val_accuracy"]) == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert version.tags["data.hash"] == champion_run.data.tags["data.hash"] and version.tags["git.commit"]
    card = version.description  # the model card, written from the metrics files
    assert card.startswith(f"# Model card: ferpipe version {version.version} ({best['name']})")
    assert f"Validation accuracy {best['val_accuracy']:.4f}" in card and "synthetic faces only" in card
    for section in ("## What it is", "## Data and protocol", "## Metrics", "## Calibration", "## Known limits"):
        assert section in card
    method = best["name"].removeprefix("ensemble_")
    scores = _details(project, "ensemble")[method] if method != best["name"] else _details(project, best["name"])
    assert f"Temperature {scores['calibration']['temperature']:.3f}, fitted on validation" in card
    model = mlflow.pyfunc.load_model("models:/ferpipe@champion")
    images = np.load(project / "data" / "audited" / "images.npy")[:5]
    answer = model.predict(images.astype(np.float64))
    assert len(answer) == 5 and np.allclose(answer[list(CLASSES)].sum(axis=1), 1.0, atol=1e-3)
    assert (answer["answered_by"] == f"models:/ferpipe/{version.version} ({best['name']})").all()
    assert answer["warning"].str.contains("synthetic faces only").all()


@pytest.fixture
def server(project: Path, tmp_path: Path):
    """``mlflow models serve`` of the champion on 127.0.0.1, as the README shows it."""
    import urllib.request

    port = free_port()
    serve_env = env(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    cmd = ["mlflow", "models", "serve", "-m", "models:/ferpipe@champion", "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(cmd, cwd=project, env=serve_env, stdout=log, stderr=log)
        try:
            for _ in range(120):
                try:
                    with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    assert process.poll() is None, log_path.read_text()[-3000:]
                    time.sleep(1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_served_champion_answers_arrays_and_images_and_refuses_bad_payloads(project: Path, server: str) -> None:
    import base64
    import io

    import numpy as np
    from PIL import Image

    images = np.load(project / "data" / "audited" / "images.npy")[:3]
    status, answer = _post(server, json.dumps({"inputs": images.tolist()}).encode())
    assert status == 200, answer
    rows = answer["predictions"]
    assert len(rows) == 3 and all(abs(sum(r[c] for c in CLASSES) - 1) < 1e-3 for r in rows)
    assert all(r["label"] == max(CLASSES, key=r.get) for r in rows)
    assert rows[0]["answered_by"].startswith("models:/ferpipe/") and "synthetic faces only" in rows[0]["warning"]

    buffer = io.BytesIO()
    Image.fromarray(images[0]).resize((120, 120)).convert("RGB").save(buffer, format="PNG")
    record = {"image": base64.b64encode(buffer.getvalue()).decode()}
    status, answer = _post(server, json.dumps({"dataframe_records": [record]}).encode())
    assert status == 200 and answer["predictions"][0]["label"] in CLASSES

    for bad, reason in (
        (json.dumps({"inputs": [[1, 2, 3]]}).encode(), "expected images of shape"),
        (json.dumps({"dataframe_records": [{"image": "%%%"}]}).encode(), "not valid base64"),
        (b"{not json", ""),
    ):
        status, answer = _post(server, bad)
        assert 400 <= status < 500 and reason in answer.get("message", ""), (status, answer)


def test_the_load_test_mixes_hostile_requests_and_the_server_refuses_each_and_stays_up(
    project: Path, server: str
) -> None:
    """Every kind of the load test's mix once (each answered as it must be), then a short bounded run."""
    import numpy as np

    from ferpipe.serving.loadtest import LoadOptions, _as_expected, _post, render, request_mix, run_load

    faces = np.load(project / "data" / "audited" / "images.npy")[:8]
    mix = request_mix(faces)
    for request in mix:
        answer = _post(server, request.body, timeout=60)
        assert _as_expected(answer, request.good), (request.kind, answer)
    result = run_load(server, mix, LoadOptions(clients=2, seconds=3, max_requests=60), lambda: 0)
    assert 0 < result["requests"] <= 60 and result["unexpected"] == 0, result
    assert "requests/s" in render([result]) and "pixel bomb 13000px" in render([result])


def test_ferpipe_runs_shows_the_pipeline_tree(project: Path) -> None:
    out = run(["ferpipe", "runs", "--pipelines", "1"], project)
    assert "pipeline" in out and "├─ cnn" in out and "ensemble_weighted" in out and "★" in out
    assert "#/compare-runs?runs=" in out


def test_the_pull_request_comment_holds_the_gate_table_with_intervals_and_the_plots(project: Path) -> None:
    """The comment's Markdown as the CI workflows write it (`ferpipe comment`), read as a reviewer would."""
    out = run(["ferpipe", "comment", "--base", "HEAD", "--out", "ci_comment"], project)
    assert "ci_comment/report.md" in out
    text = (project / "ci_comment" / "report.md").read_text()
    assert text.startswith("## ferpipe: this branch against `HEAD`")
    header = next(line for line in text.splitlines() if line.startswith("| metric"))
    assert "change 95% CI" in header and "noise" in header
    assert "| metrics/cnn.json:test_acc |" in text and "within |" in text and "gate passed" in text
    pictures = [line.split("](./")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert {"validation_accuracy.png", "training_loss.png", "class_distribution.png"} <= set(pictures)
    assert all((project / "ci_comment" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pictures)


def test_gate_passes_on_the_committed_results(project: Path) -> None:
    out = run(["ferpipe", "gate"], project)
    assert "metrics/cnn.json:test_acc" in out and "gate passed" in out
    assert "up to date" in run(["ferpipe", "stale"], project)


def test_a_fresh_clone_pulls_from_the_remote_and_has_nothing_to_rerun(project: Path, tmp_path: Path) -> None:
    """The README's team workflow: a DVC remote in .dvc/config, `dvc push`, then clone and `dvc pull`."""
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "--default", "shared", str(remote)], project)
    run(["git", "commit", "-q", "-m", "DVC remote", ".dvc/config"], project)
    run(["dvc", "push"], project)
    fresh = tmp_path / "fresh"
    run(["git", "clone", "-q", str(project), str(fresh)], tmp_path)
    assert not (fresh / "data").exists()
    run(["dvc", "pull"], fresh)
    assert (fresh / "data" / "models" / "cnn" / "model.pt").read_bytes() == (
        project / "data" / "models" / "cnn" / "model.pt"
    ).read_bytes()
    dry = run(["dvc", "repro", "--dry"], fresh)
    assert _stages_run(dry) == [], dry


def test_seeds_run_as_queued_experiments_two_at_a_time_log_to_the_repo_store_and_are_summarised(
    project: Path,
) -> None:
    """`ferpipe seeds` queues one DVC experiment per seed and runs them with `dvc queue start -j 2`,
    each in a temporary copy of the repo; MLflow must still land here, and the spread is reported."""
    import mlflow

    seeds = (11, 12)
    out = run(["ferpipe", "seeds", "logreg", "--seeds", ",".join(map(str, seeds)), "--jobs", "2"], project)
    assert "over 2 seeds (range" in out and "results/seeds/logreg.json" in out, out
    record = json.loads((project / "results" / "seeds" / "logreg.json").read_text())
    assert set(record["seeds"]) == {"11", "12"} and record["summary"]["test_acc"]["n"] == 2

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`dvc.exp_name` LIKE 'seeds-%'")
    for seed in seeds:
        name = f"seeds-logreg-{seed}"
        mine = runs[runs["tags.dvc.exp_name"] == name].set_index("tags.mlflow.runName")
        assert mine.loc[name, "tags.ferpipe.kind"] == "pipeline" and mine.loc[name, "status"] == "FINISHED"
        assert int(mine.loc["logreg", "params.seed"]) == seed  # the queued params, not the workspace's
        assert set(mine.index) >= {"logreg", "ensemble_weighted"}
        assert (mine["tags.mlflow.parentRunId"].dropna() == mine.loc[name, "run_id"]).all()
        scored = record["seeds"][str(seed)]  # read through DVC at the experiment: what MLflow holds for it
        assert mine.loc["logreg", "metrics.test/accuracy"] == pytest.approx(scored["test_acc"], abs=1e-6)
        logged_epochs = len(mlflow.MlflowClient().get_metric_history(mine.loc["logreg", "run_id"], "epoch_seconds"))
        assert scored["budget"]["epochs"] == logged_epochs and scored["budget"]["train_minutes"] >= 0
        assert record["commit"] == mine.loc["logreg", "tags.git.commit"][:7]  # the code the experiment ran
    assert not list((project / ".dvc" / "tmp").glob("exps/tmp*/mlflow.db"))  # no store left in a temp copy
    assert record["n_test"] == json.loads((project / "metrics" / "prepare.json").read_text())["n_test"]

    # the same experiments summarised again without queueing anything, under another name, and tabled
    again = run(["ferpipe", "seeds", "logreg", "--seeds", "11,12", "--collect", "--name", "logreg_again"], project)
    assert "results/seeds/logreg_again.json" in again and "Queued" not in run(["dvc", "queue", "status"], project)
    collected = json.loads((project / "results" / "seeds" / "logreg_again.json").read_text())
    assert collected["summary"] == record["summary"]
    table = run(["ferpipe", "results"], project)
    assert f"{100 * record['summary']['test_acc']['mean']:.1f} ± " in table and "logreg_again (" in table

    # two recipes over the same seeds: seed by seed on the same faces, and pooled
    sides = ["logreg@seeds-logreg-{seed}", "ensemble_weighted@seeds-logreg-{seed}"]
    out = run(["ferpipe", "compare", *sides, "--seeds", "11,12", "--out", "compared.json"], project)
    assert "seed by seed" in out and "pooled" in out and "over seeds 11, 12, ensemble_weighted@" in out, out
    compared = json.loads((project / "compared.json").read_text())
    assert set(compared["per_seed"]) == {"11", "12"} and compared["split"] == "test"
    for seed in ("11", "12"):
        assert compared["per_seed"][seed]["accuracy_a"] == pytest.approx(record["seeds"][seed]["test_acc"], abs=1e-6)


def test_a_mistyped_param_stops_the_first_stage_it_reaches_with_one_line(project: Path) -> None:
    done = subprocess.run(
        ["dvc", "exp", "run", "-S", "models.cnn.lr=fast"], cwd=project, env=env(), capture_output=True, text=True
    )
    run(["git", "checkout", "--", "params.yaml"], project)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output, output[-3000:]
    assert "error: params.yaml: models.cnn.lr: Input should be a valid number, got 'fast'" in output
    # the watch stage runs first in every repro and checks the whole file: nothing trains on bad params
    assert "Running stage 'watch'" in output and "Running stage 'train@" not in output


def test_a_worse_param_reruns_only_its_model_and_fails_the_gate(project: Path) -> None:
    """A learning rate too small to learn anything for the cnn: only its stages and the ensemble
    rerun; it never learns, so the gate must fail and name its metric."""
    champion_before = _client(project).get_model_version_by_alias("ferpipe", "champion").version
    out = run(["dvc", "exp", "run", "-S", "models.cnn.lr=1.0e-9"], project)
    assert _stages_run(out) == [f"distill@{STUDENT}", "ensemble", "evaluate@cnn", "report", "train@cnn"]
    # a log, not a terminal: one line per epoch, no progress-bar carriage returns, no MLflow noise
    assert "\r" not in out and "INFO mlflow" not in out and "Warning" not in out, out[-3000:]
    done = subprocess.run(["ferpipe", "gate"], cwd=project, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REGRESSED" in done.stdout and "metrics/cnn.json:test_acc fell" in done.stdout

    # the registry: the worse pipeline's best is the challenger; the champion did not move
    client = _client(project)
    assert client.get_model_version_by_alias("ferpipe", "champion").version == champion_before
    assert client.get_model_version_by_alias("ferpipe", "challenger").version != champion_before
    runs = run(["ferpipe", "runs", "--pipelines", "1"], project)
    assert "☆ challenger" in runs and "logreg (reused)" in runs, runs  # the unchanged member, under it too

    # the README's comparison: every experiment (the queued ones above too) with what changed and the
    # pipeline's result, in 160 columns with nothing collapsed
    table = run(["dvc", "exp", "show", "--no-pager", *EXP_SHOW_FLAGS], project, env(COLUMNS="160"))
    assert "…" not in table and "best_test_acc" in table and "models.cnn.lr" in table, table
    assert max(len(line) for line in table.splitlines()) <= 160
    diff = run(["dvc", "metrics", "diff"], project)  # every changed number, one row each
    assert "metrics/ensemble_vote.json" in diff and max(len(line) for line in diff.splitlines()) <= 160


def test_report_leaves_the_pipeline_clean_and_stale_names_a_modified_output(project: Path) -> None:
    run(["git", "checkout", "--", "."], project)  # back to the committed run (earlier tests moved it)
    run(["dvc", "checkout", "--force"], project)
    run(["ferpipe", "report"], project)
    assert _nothing_to_run(run(["dvc", "status"], project))
    with open(project / "metrics" / "cnn.json", "a") as handle:
        handle.write(" ")
    done = subprocess.run(["ferpipe", "stale"], cwd=project, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "evaluate@cnn: modified output: metrics/cnn.json" in done.stdout, done.stdout
    run(["git", "checkout", "--", "metrics"], project)


def _python_block(page: Path, heading: str) -> str:
    """The first python code block after ``heading`` in a docs page, dedented."""
    text = page.read_text()
    block = re.search(r"```python\n(.*?)```", text[text.index(heading) :], re.S)
    assert block, f"{page}: no python block under {heading}"
    return "\n".join(line[3:] for line in block.group(1).splitlines()) + "\n"


def _stages_named(status: str) -> set[str]:
    """The stages `dvc status` lists (each on a line of its own ending with a colon)."""
    return set(re.findall(r"^(\S+):$", status, re.M))


def test_the_how_tos_model_and_reader_are_one_file_each_and_rerun_only_their_stages(
    project: Path, tmp_path: Path
) -> None:
    """docs/how-to/extend.md, done as it says: its model and reader work as written, a new model
    and an edited one rerun only their own train@/evaluate@ stages, and a new source's reader
    reruns no other source's download."""
    run(["git", "checkout", "--", "."], project)  # back to the committed run (earlier tests moved it)
    run(["dvc", "checkout", "--force"], project)
    page = REPO / "docs" / "how-to" / "extend.md"
    model_code, reader_code = _python_block(page, "## Add a model"), _python_block(page, "## Add a reader")
    faces = tmp_path / "faces"
    faces.mkdir()
    for i in range(3):
        Image.fromarray(np.full((64, 64), 40 * i, np.uint8)).save(faces / f"{i}.png")
    (faces / "labels.csv").write_text("file,label\n0.png,happy\n1.png,sad\n2.png,angry\nmissing.png,fear\n")
    examples: dict = {}
    exec(compile(model_code + reader_code, str(page), "exec"), examples)  # the page's code, as written
    assert examples["tiny_mlp"](hidden=8)(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    from ferpipe.schema import Read

    # not a format the schema knows until the file is in place: its defaults, unvalidated
    records = examples["read_labels_csv"](faces, Read.model_construct(format="labels_csv"))
    assert records.labels == ["happy", "sad", "angry"] and [s.row for s in records.skipped] == [5]

    (project / "src/ferpipe/models/zoo/tiny_mlp.py").write_text(model_code)
    (project / "src/ferpipe/readers/formats/read_labels_csv.py").write_text(reader_code)
    with open(project / "src/ferpipe/models/zoo/simple_cnn.py", "a") as handle:
        handle.write("# a comment: the cnn's own file changed\n")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["mlp"] = {"arch": "tiny_mlp", "epochs": 2, "args": {"hidden": 16}}
    params["sources"]["mine"] = {
        "fetch": {"kind": "path", "path": str(faces)},
        "read": {"format": "labels_csv", "role": "extra"},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        named = _stages_named(run(["dvc", "status"], project))
    finally:
        run(["git", "checkout", "--", "."], project)
        run(["git", "clean", "-fdq", "src"], project)
    assert {"train@mlp", "evaluate@mlp", "train@cnn", "evaluate@cnn", "download@mine"} <= named, named
    untouched = {"train@logreg", "evaluate@logreg", *(f"download@{s}" for s in ("fer2013", "ckplus", "googlefer"))}
    assert not named & untouched, named


def test_stale_names_the_stages_whose_params_changed(project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["logreg"]["epochs"] = 3
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = subprocess.run(["ferpipe", "stale"], cwd=project, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "train@logreg: changed params: params.yaml:models.logreg" in done.stdout
    assert "train@cnn" not in done.stdout


def test_reproduce_runs_a_reports_leaky_protocol_as_a_flagged_experiment(project: Path) -> None:
    """`ferpipe reproduce` on a tiny report preset whose base is the committed pipeline: the base is
    recorded from the workspace, the report's protocol (SMOTE before the split) runs as a DVC
    experiment, shouts, is flagged by the audit and tagged leaky=true in MLflow."""
    import mlflow

    run(["git", "checkout", "--", "."], project)  # back to the committed run (earlier tests moved it)
    run(["dvc", "checkout", "--force"], project)
    base = tiny_params("e2e")
    leaky_balance = {"method": "smote", "scope": "before_split", "strategy": "auto", "k_neighbors": 3, "seed": 0}
    preset = {
        "title": "Tiny",
        "source": "this test",
        "measures": [
            {"what": "cnn accuracy", "metric": "metrics/details/cnn.json:test.accuracy"},
            {"what": "average", "claimed": 99.0, "metric": "metrics/details/ensemble.json:average.test.accuracy"},
        ],
        "params": {key: base[key] for key in ("sources", "prepare", "balance", "models", "ensemble")},
        "variants": {"report_protocol": {"balance": leaky_balance}},
    }
    (project / "presets" / "reports").mkdir(parents=True, exist_ok=True)
    (project / "presets" / "reports" / "tiny.yaml").write_text(yaml.safe_dump(preset))

    run(["ferpipe", "results", "--record", "tiny"], project)
    out = run(["ferpipe", "reproduce", "tiny", "--variant", "report_protocol"], project)
    assert "LEAKY PROTOCOL" in out and "recorded in results/tiny.json" in out
    assert _details(project, "audit")["leaky_protocol"] is True
    assert _details(project, "balance")["leak_evidence"]["test_synthetic"] > 0
    results = json.loads((project / "results" / "tiny.json").read_text())
    assert results["base"]["leaky"] is False and results["report_protocol"]["leaky"] is True
    table = run(["ferpipe", "results"], project)
    honest, leaky = results["base"]["measured"]["cnn accuracy"], results["report_protocol"]["measured"]["cnn accuracy"]
    low, high = results["base"]["intervals"]["cnn accuracy"]  # each measured number with its 95% interval
    assert low < honest < high
    assert f"| tiny | base | cnn accuracy | - | {honest:.2f} ({low:.1f}-{high:.1f}) | {leaky:.2f} (" in table

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`dvc.exp_name` = 'tiny-report-protocol'")
    assert len(runs) >= 4 and (runs["tags.leaky"] == "true").all()  # the pipeline, its models, its ensembles
    honest_runs = mlflow.search_runs(experiment_names=["e2e"], filter_string="tags.`dvc.exp_name` = 'seeds-logreg-11'")
    assert len(honest_runs) and (honest_runs["tags.leaky"] == "false").all()


def test_restore_returns_to_the_committed_default_without_retraining(project: Path) -> None:
    """A preset-like change reproduced (DVC's autostage stages its lock), then `ferpipe restore`:
    params, lock and metrics are the committed ones again and no stage retrains."""
    run(["git", "checkout", "--", "."], project)
    run(["dvc", "checkout", "--force"], project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["logreg"]["epochs"] = 2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], project)
    run(["git", "add", "dvc.lock", "metrics"], project)
    out = run(["ferpipe", "restore"], project)
    assert "stages restored from DVC's run-cache" in out and "0 stages" not in out, out
    assert "train@" not in out and "evaluate@" not in out and "ensemble" not in out and "distill@" not in out, out
    assert run(["git", "status", "--porcelain", "--", "params.yaml", "dvc.lock", "metrics"], project) == ""
    assert _nothing_to_run(run(["dvc", "status"], project))


def test_a_forced_repro_writes_the_same_dvc_lock(project: Path) -> None:
    """Identical content, identical hashes: model files included (no run id, no temp name inside),
    so a committed dvc.lock checks out from a cache another run built."""
    run(["git", "checkout", "--", "."], project)
    run(["dvc", "checkout", "--force"], project)
    committed = (project / "dvc.lock").read_text()
    run(["dvc", "repro", "--force", "--single-item", "train@logreg", "evaluate@logreg"], project)
    assert (project / "dvc.lock").read_text() == committed


def test_the_gpu_recipe_command_runs_and_records_at_a_tiny_cpu_budget(project: Path) -> None:
    """`ferpipe recipe fer2013_gpu` (vgg_fer's full recipe beside the CPU recipe) cut to a CPU budget:
    a timed `dvc repro`, recorded in results/recipes/ with each model's epochs, minutes and images/s,
    and the README's table rebuilt from the record."""
    from tests.conftest import TINY_SOURCES

    run(["git", "checkout", "--", "."], project)
    run(["dvc", "checkout", "--force"], project)
    for preset in ("cpu_recipe", "fer2013", "fer2013_gpu"):
        shutil.copy(REPO / "presets" / f"{preset}.yaml", project / "presets")
    shutil.copy(REPO / "README.md", project)
    cuts = [
        f"sources={json.dumps({'fer2013': TINY_SOURCES['fer2013']})}",
        "prepare.subsample=0.25",
        "balance.strategy={disgust: 10}",
        "train.epochs_scale=0.003",  # 300 vgg_fer epochs -> 1
        "mlflow.experiment=e2e",
    ]
    out = run(
        ["ferpipe", "recipe", "fer2013_gpu", "--name", "tiny_gpu", *[a for c in cuts for a in ("--set", c)]], project
    )
    assert "Running stage 'train@vgg_fer'" in out and "recorded in results/recipes/tiny_gpu.json" in out, out[-3000:]
    record = json.loads((project / "results" / "recipes" / "tiny_gpu.json").read_text())
    assert record["overrides"] == cuts and record["test_split"] == "PrivateTest"
    assert 0 < record["ensemble_minutes"] <= record["wall_minutes"]
    for name in ("vgg_fer", "cnn"):
        model = record["models"][name]
        assert model["epochs"] == 1 and model["images_per_second"] > 0 and model["device"] == "cpu"
        assert model["test_acc"] == _metrics(project, name)["test_acc"].__round__(4)
    run(["ferpipe", "results", "--readme"], project)
    readme = (project / "README.md").read_text()
    assert f"| tiny_gpu ({os.cpu_count()}-core CPU, " in readme, readme[-2000:]
    assert "| vgg_fer | 1 |" in readme
    run(["git", "checkout", "--", "."], project)
