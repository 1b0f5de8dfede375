"""The deployable classifier: what requests it accepts, what it refuses, what it answers."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ferpipe.labels import CLASSES
from ferpipe.models import create_model
from ferpipe.serving.classifier import FerClassifier, predictions_frame, to_images


def _png_base64(array: np.ndarray, mode: str = "L") -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_arrays_in_every_accepted_shape_become_uint8_faces() -> None:
    face = np.full((48, 48), 200.0)
    for payload in (face, face[None], face.reshape(1, 2304), face[None, None], face.tolist()):
        images = to_images(payload)
        assert images.shape == (1, 48, 48) and images.dtype == np.uint8 and images[0, 0, 0] == 200


def test_base64_images_of_any_size_and_colour_are_decoded() -> None:
    colour = np.zeros((120, 90, 3), dtype=np.uint8)
    frame = pd.DataFrame({"image": [_png_base64(colour, "RGB"), _png_base64(np.full((48, 48), 9, np.uint8))]})
    images = to_images(frame)
    assert images.shape == (2, 48, 48) and images[1, 0, 0] == 9


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (np.zeros((2, 10)), "shape"),
        (np.full((1, 48, 48), 300.0), "0-255"),
        (np.full((1, 48, 48), np.nan), "0-255"),
        ([["a"] * 48] * 48, "numbers"),
        (pd.DataFrame({"image": ["not base64!"]}), "row 0: 'image' is not valid base64"),
        (pd.DataFrame({"image": [base64.b64encode(b"plain text").decode()]}), "not a readable image"),
        (np.zeros((1025, 48, 48)), "at most 1024"),
        (pd.DataFrame({"image": ["A" * (15 * 2**20)]}), "larger than 10 MiB"),
    ],
)
def test_bad_payloads_are_refused_with_the_reason(payload, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_images(payload)


def test_a_single_model_and_an_ensemble_give_probabilities() -> None:
    torch.manual_seed(0)
    members = {"a": create_model("logreg"), "b": create_model("logreg")}
    images = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    for classifier in (
        FerClassifier({"a": members["a"]}),
        FerClassifier(members, "weighted", np.array([0.3, 0.7])),
        FerClassifier(members, "vote"),
    ):
        probs = classifier.predict_proba(images)
        assert probs.shape == (4, len(CLASSES)) and np.allclose(probs.sum(axis=1), 1.0)
    frame = predictions_frame(probs)
    assert list(frame.columns) == ["label", *CLASSES] and frame["label"].isin(CLASSES).all()


def test_the_logged_classifier_is_a_model_from_code_that_loads_without_unpickling(
    tmp_path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MLflow is turning pickled pyfuncs off by default (MLFLOW_ALLOW_PICKLE_DESERIALIZATION): the
    classifier is logged as a file MLflow runs, loads with pickles refused, and MLflow has no
    advice about pickling to log."""
    import logging

    import mlflow

    from ferpipe import tracking
    from ferpipe.models.saved import save_model
    from ferpipe.serving.classifier import log_classifier

    torch.manual_seed(0)
    model_file = tmp_path / "model.pt"
    save_model(model_file, create_model("simple_cnn", widths=[8, 8, 8]), "simple_cnn", {"widths": [8, 8, 8]})
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure("from-code", tmp_path)
    with caplog.at_level(logging.INFO, logger="mlflow"), mlflow.start_run():
        info = log_classifier({"m": model_file}, "average", None, tmp_path / "work", "from-code", "m")
    assert not [r for r in caplog.records if "pickle" in r.getMessage().lower()]
    stored = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "stored"))
    flavor = mlflow.models.Model.load(stored).flavors["python_function"]
    assert flavor.get("model_code_path", "").endswith("pyfunc_model.py"), flavor
    assert not list((tmp_path / "stored").rglob("python_model.pkl"))

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    answer = mlflow.pyfunc.load_model(info.model_uri).predict(faces)
    expected = FerClassifier.load({"m": model_file}, "average", None).predict_proba(faces)
    assert np.allclose(answer[list(CLASSES)].to_numpy(), expected, atol=1e-5)
