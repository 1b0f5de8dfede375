"""The real data sets in ../shared/datasets: readers, cleaning and the leakage audit.

Skipped where ../shared is absent; CI (.ci/run) has it beside the clone and runs these.
"""

from __future__ import annotations

import json

import pytest

from ferpipe.config import Paths, load_yaml
from ferpipe.data.dataset import save_prepared
from ferpipe.data.prepare import prepare
from ferpipe.sources import materialise
from ferpipe.stages import audit as audit_stage
from ferpipe.stages import balance as balance_stage
from ferpipe.stages import evaluate as evaluate_stage
from ferpipe.stages import train as train_stage
from tests.conftest import REPO, SHARED, fetch_of, params_of, prepare_of, sources_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED / "fer2013.csv.gz").exists(), reason="../shared/datasets is absent"),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """The internal fer2013_shared preset's sources prepared and audited in a temporary project."""
    preset = load_yaml(REPO / "presets" / "fer2013_shared.yaml")
    paths = Paths(tmp_path_factory.mktemp("real"))
    for name, cfg in preset["sources"].items():
        materialise(name, fetch_of(cfg["fetch"]), paths.raw, REPO)
    result = prepare(sources_of(preset["sources"]), paths.raw, prepare_of(preset["prepare"]))
    save_prepared(paths.prepared, result.images, result.manifest)
    paths.details.mkdir(parents=True)
    (paths.details / "data_report.json").write_text(json.dumps(result.report))
    audit_stage.run(params_of(audit={"policy": "drop_from_train"}), paths)
    return paths


def _json(paths: Paths, name: str) -> dict:
    return json.loads((paths.details / name).read_text())


def test_sources_are_read_and_cleaned(real: Paths) -> None:
    report = _json(real, "data_report.json")
    fer = report["counts"]["fer2013"]
    assert sum(fer["test"].values()) > 3500  # PublicTest, less its within-split duplicates and blanks
    assert report["dropped"]["fer2013: blank image"] == 12  # 11 Training + 1 PublicTest all-black frames
    assert report["dropped"]["ckplus: label 'contempt' is not one of the 7 classes"] == 54
    assert sum(report["counts"]["jaffe"]["train"].values()) == 213
    assert set(report["counts"]["ckplus"]) == {"train"} and set(report["counts"]["jaffe"]) == {"train"}


def test_audit_finds_the_publictest_copies_in_training(real: Paths) -> None:
    audit = _json(real, "audit.json")
    exact = audit["exact"]["train~test"]["held_images"] + audit["exact"]["val~test"]["held_images"]
    assert 260 <= exact <= 290, exact  # the data README: 280 PublicTest rows (270 distinct images)
    assert audit["near"]["train~test"]["held_images"] >= 5  # re-encoded / shifted near copies
    assert audit["test_images_with_copies"] >= exact
    assert audit["dropped"] >= exact


def test_smoke_training_on_real_fer2013_clears_the_floor(real: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU recipe's CNN (presets/cpu_recipe.yaml) at a budget of a few epochs, its one-cycle schedule
    fitted to them: PublicTest accuracy (with the recipe's test-time views) against thresholds.yaml."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    smoke = load_yaml(REPO / "thresholds.yaml")["realdata_smoke"]
    recipe = load_yaml(REPO / "presets" / "cpu_recipe.yaml")
    params = params_of(
        mlflow={"experiment": "realdata-smoke"},
        balance={"method": "none"},
        train=recipe["train"],
        models={"cnn": {**recipe["models"]["cnn"], "epochs": smoke["budget_epochs"]}},
        evaluate=recipe["evaluate"],
        ensemble={"members": ["cnn"]},
        distill={},
    )
    balance_stage.run(params, real)
    train_stage.run("cnn", params, real)
    evaluate_stage.run("cnn", params, real)
    metrics = _json(real, "cnn.json")
    print(f"real-data smoke: PublicTest accuracy {metrics['test']['accuracy']}, macro F1 {metrics['test']['macro_f1']}")
    for key, floor in smoke["floors"].items():
        split, name = key.split(".")
        assert metrics[split][name] >= floor, f"{key} {metrics[split][name]} is under its floor {floor}"
