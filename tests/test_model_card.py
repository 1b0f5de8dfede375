"""The model card: written from the metrics files, and honest about what the model saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferpipe.config import Paths
from ferpipe.labels import CLASSES
from ferpipe.schema import Params
from ferpipe.serving.model_card import SYNTHETIC_WARNING, card_facts, identity, render, synthetic_only
from ferpipe.serving.registration import Chosen
from tests.conftest import params_of

PER_CLASS = {c: {"precision": 0.5, "recall": 0.25, "f1": 0.333333, "support": 10} for c in CLASSES}
NO_PREDICTIONS = np.zeros(0, dtype=np.int8)  # what the card does not need
SCORES = {
    "val": {"accuracy": 0.61, "macro_f1": 0.55},
    "test": {"accuracy": 0.6, "macro_f1": 0.5, "top2_accuracy": 0.8, "n": 70, "per_class": PER_CLASS},
    "calibration": {
        "temperature": 1.37,
        "bins": 15,
        "val": {"ece": 0.12, "ece_scaled": 0.03},
        "test": {"ece": 0.11, "ece_scaled": 0.04},
    },
}
ROBUSTNESS = {
    "clean_accuracy": 0.6,
    "mean_by_corruption": {"blur": 0.55, "occlude_mouth": 0.31, "jpeg": 0.58},
    "weakest": "occlude_mouth",
}
SCORES_UNDER_CORRUPTION = {**SCORES, "robustness": ROBUSTNESS}
TAGS = {"data.hash": "d" * 32, "git.commit": "c" * 40}
BUDGETS = {"cnn": {"epochs": 12, "train_minutes": 1.5, "images_per_second": 1400, "device": "cpu"}}  # from MLflow


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    details = tmp_path / "metrics" / "details"
    (details / "train").mkdir(parents=True)
    files = {
        "data_report.json": {"counts": {"fer2013": {"train": {"happy": 900}, "val": {"happy": 90},
                                                    "test": {"sad": 70}}}},
        "audit.json": {"policy": "drop_from_train", "test_images_with_copies": 3, "val_images_with_copies": 2,
                       "dropped": 5},
        "balance.json": {"method": "augment"},
        "train/cnn.json": {"n_parameters": 72471, "epochs_run": 12, "best_epoch": 11, "device": "cpu"},
        "train/logreg.json": {"n_parameters": 16135, "epochs_run": 10, "best_epoch": 9, "device": "cpu"},
        "cnn.json": {"saliency": {"layer": "1.2.3 (Conv2d 32->64, 3x3)", "map": [12, 12]}},
        "logreg.json": {"saliency": {"skipped": "no convolutional layer over the face"}},
    }  # fmt: skip
    for name, content in files.items():
        (details / name).write_text(json.dumps(content))
    return Paths(tmp_path)


FETCHES = {
    "synthetic": {"kind": "synthetic", "layout": "fer2013_csv", "seed": 0, "counts": {"Training": 10}},
    "location": {"kind": "location", "where": "../shared/datasets/fer2013.csv.gz"},
    "path": {"kind": "path", "path": "../shared/datasets/jaffe.tar.gz"},
}


def _sources(**kinds: str) -> dict:
    return {
        name: {"fetch": FETCHES[kind], "read": {"format": "fer2013_csv", "role": "primary"}}
        for name, kind in kinds.items()
    }


def _params(kind: str = "synthetic", **extra) -> Params:
    models = {"cnn": {"arch": "simple_cnn"}, "logreg": {"arch": "logreg"}}
    sections = {"sources": _sources(fer2013=kind), "models": models, "ensemble": {"members": ["cnn", "logreg"]}}
    return params_of(**{**sections, "distill": {}, **extra})


def test_an_ensembles_card_says_what_it_is_what_it_saw_and_how_it_did(paths: Paths) -> None:
    chosen = Chosen(
        "ensemble_weighted", {"cnn": Path("a"), "logreg": Path("b")}, "weighted", [0.7, 0.3], ["r1", ""], NO_PREDICTIONS
    )
    facts = card_facts(_params(evaluate={"tta": "flip"}), paths, chosen, SCORES_UNDER_CORRUPTION, TAGS, BUDGETS)
    card = render(facts, "ferpipe", "7")
    assert card.startswith("# Model card: ferpipe version 7 (ensemble_weighted)")
    assert "ensemble (weighted) of cnn, logreg, test-time views `flip`" in card
    assert "| cnn | simple_cnn | 72,471 | 12 | 11 | 1.5 | 1400 | cpu |" in card
    assert "| logreg | logreg | 16,135 | 10 | 9 | - | - | cpu |" in card  # its run is not in this store
    assert "Weights, fitted on validation only: cnn 0.700, logreg 0.300." in card
    assert "Images after cleaning: 900 train, 90 validation, 70 test. Balancing (training split only): augment." in card
    assert "DVC experiment: none (a plain dvc repro)." in card
    assert "3 test and 2 validation images had a copy in training; 5 training images dropped" in card
    assert (
        "Validation accuracy 0.6100; test accuracy 0.6000" in card and "| happy | 0.500 | 0.250 | 0.333 | 10 |" in card
    )
    assert "Temperature 1.370" in card and "validation 0.120 -> 0.030, test 0.110 -> 0.040" in card
    assert "## Known limits" in card and "git commit `cccccccccccc`" in card
    assert f"**Warning: {SYNTHETIC_WARNING}.**" in card and "LEAKY" not in card
    assert "Weakest under **occlude mouth**: accuracy 0.310 (mean of its severities) against 0.600 clean." in card
    assert "| blur | 0.550 |" in card
    assert "- cnn: layer `1.2.3 (Conv2d 32->64, 3x3)`, 12x12 map" in card
    assert "- logreg: skipped, no convolutional layer over the face" in card


def test_real_data_carries_no_warning_and_a_leak_is_shouted(paths: Paths) -> None:
    params = _params("location", audit={"policy": "keep"}, evaluate={"tta": "none"})
    facts = card_facts(
        params, paths, Chosen("cnn", {"cnn": Path("a")}, "cnn", None, [""], NO_PREDICTIONS), SCORES, TAGS, {}
    )
    card = render(facts, "ferpipe", "3")
    assert "single model cnn" in card and "Weights" not in card and "Warning" not in card
    assert "LEAKY PROTOCOL, ON PURPOSE: audit.policy=keep" in card
    assert identity(facts, "ferpipe", "3") == {"answered_by": "models:/ferpipe/3 (cnn)", "warning": ""}


def test_only_an_all_synthetic_source_list_is_synthetic() -> None:
    assert synthetic_only(params_of())  # the built-in default data
    assert not synthetic_only(_params(sources=_sources(fer2013="synthetic", jaffe="path")))
