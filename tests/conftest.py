"""Shared fixtures: tiny synthetic sources written in the real formats, and shared data paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from ferpipe.schema import Fetch, Params, Prepare, Read, Source, parse_params
from ferpipe.sources import materialise

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"

TINY_SOURCES = {
    "fer2013": {
        "fetch": {
            "kind": "synthetic",
            "layout": "fer2013_csv",
            "seed": 1,
            "counts": {"Training": 420, "PublicTest": 140, "PrivateTest": 140},
            "label_noise": 0.0,
            "blank": 3,
            "duplicates": 5,
        },
        "read": {"format": "fer2013_csv", "role": "primary"},
    },
    "ckplus": {
        "fetch": {"kind": "synthetic", "layout": "ckplus", "seed": 2, "sequences": 30, "subjects": 10},
        "read": {"format": "ckplus", "role": "extra"},
    },
    "googlefer": {
        "fetch": {"kind": "synthetic", "layout": "image_folder", "seed": 3, "count": 80, "size": 96},
        "read": {"format": "image_folder", "role": "extra"},
    },
}


def fetch_of(fetch: dict) -> Fetch:
    """A ``fetch`` section as the stages receive it: parsed by the schema (its kind picks the model)."""
    from pydantic import TypeAdapter

    return TypeAdapter(Fetch).validate_python(fetch)


def read_of(fmt: str, **keys: object) -> Read:
    """A ``read`` section of format ``fmt`` as the readers receive it."""
    return Read.model_validate({"format": fmt, **keys})


def sources_of(sources: dict) -> dict[str, Source]:
    """``sources`` as prepare receives them, each one parsed by the schema; prepare reads what the
    download stage left in ``data/raw/<name>``, so a test may leave a source's ``fetch`` out."""
    placeholder = {"kind": "path", "path": "(materialised by the test)"}
    return {name: Source.model_validate({"fetch": placeholder, **source}) for name, source in sources.items()}


def prepare_of(cfg: dict) -> Prepare:
    return Prepare.model_validate(cfg)


def params_of(**sections: object) -> Params:
    """The repo's params with ``sections`` replaced, parsed as a stage receives them."""
    from ferpipe.config import load_yaml

    return parse_params({**load_yaml(REPO / "params.yaml"), **sections})


def write_params(folder: Path, **sections: dict) -> Path:
    """A schema-valid ``params.yaml`` in ``folder``: the repo's params with ``sections`` replaced."""
    from ferpipe.config import load_yaml

    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({**load_yaml(REPO / "params.yaml"), **sections}, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``data/raw`` with the three tiny synthetic sources materialised (built once per session)."""
    raw = tmp_path_factory.mktemp("raw")
    for name, cfg in TINY_SOURCES.items():
        materialise(name, fetch_of(cfg["fetch"]), raw, raw)
    return raw


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root holding two trained models (a, b) and an ensemble summary: what `ferpipe predict` reads."""
    import json

    import torch

    from ferpipe.config import MODEL_FILE
    from ferpipe.models import create_model
    from ferpipe.models.saved import save_model

    torch.manual_seed(0)
    for name in ("a", "b"):
        save_model(tmp_path / "data" / "models" / name / MODEL_FILE, create_model("logreg"), "logreg", {})
    (tmp_path / "metrics").mkdir()
    summary = {"members": ["a", "b"], "weights": {"a": 0.25, "b": 0.75}, "best": {"name": "ensemble_weighted"}}
    (tmp_path / "metrics" / "details").mkdir()
    (tmp_path / "metrics" / "details" / "ensemble.json").write_text(json.dumps(summary))
    models = {name: {"arch": "logreg"} for name in ("a", "b")}
    write_params(tmp_path, models=models, ensemble={"members": ["a", "b"]}, distill={})
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri in other tests sets it
    return tmp_path
