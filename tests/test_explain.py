"""``ferpipe explain``: each face of a photo under its Grad-CAM map, labelled; clear errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.config import MODEL_FILE
from ferpipe.models import create_model
from ferpipe.models.saved import save_model
from tests.test_predict import _photos


def _with_a_conv_model(workspace: Path) -> None:
    """Workspace model ``c``: an (untrained) simple_cnn, scored with a Grad-CAM layer, best on validation."""
    torch.manual_seed(0)
    save_model(workspace / "data" / "models" / "c" / MODEL_FILE, create_model("simple_cnn"), "simple_cnn", {})
    details = workspace / "metrics" / "details"
    (details / "c.json").write_text(json.dumps({"val": {"accuracy": 0.3}, "saliency": {"layer": "x"}}))
    (details / "a.json").write_text(json.dumps({"val": {"accuracy": 0.9}, "saliency": {"skipped": "no conv"}}))


def test_explain_draws_each_face_under_its_map(workspace: Path) -> None:
    _with_a_conv_model(workspace)
    photos = _photos(workspace / "photos")
    result = CliRunner().invoke(app, ["explain", str(photos), "--out", "maps"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "answered by model c" in result.output  # the best convolutional model, not logreg 'a'
    assert "warning: model c was trained on ferpipe's built-in synthetic" in result.stderr
    assert "no face" in result.output and "unreadable" in result.output
    drawn = sorted((workspace / "maps").glob("*.png"))
    if (photos / "face.tiff").exists():
        assert [p.name for p in drawn] == ["0002_face.png"]  # numbered in the sorted order of the folder
        picture = np.asarray(Image.open(drawn[0]).convert("RGB"))
        original = np.asarray(Image.open(photos / "face.tiff").convert("RGB"))
        assert picture.shape == original.shape and not np.array_equal(picture, original)
        assert "1 faces drawn" in result.output
    else:
        assert drawn == []


def test_explain_refuses_a_model_without_a_convolution_and_an_empty_folder(workspace: Path) -> None:
    photos = _photos(workspace / "photos")
    flat = CliRunner().invoke(app, ["explain", str(photos), "--out", "maps", "--model", "a"])
    assert flat.exit_code == 1 and "a has no convolutional layer" in flat.output
    missing = CliRunner().invoke(app, ["explain", str(photos), "--out", "maps", "--model", "nope"])
    assert missing.exit_code == 1 and "no trained model 'nope'" in missing.output
    (workspace / "empty").mkdir()
    empty = CliRunner().invoke(app, ["explain", "empty", "--out", "maps", "--model", "a"])
    assert empty.exit_code == 1 and "no photos in empty" in empty.output
    none = CliRunner().invoke(app, ["explain", str(photos), "--out", "maps"])
    assert none.exit_code == 1 and "no scored convolutional model" in none.output
    assert not (workspace / "maps").exists()
