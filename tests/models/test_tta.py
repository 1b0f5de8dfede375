"""Test-time augmentation: one wrapper, the same views on every inference path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ferpipe.device import placed
from ferpipe.models import create_model
from ferpipe.models.crops import TenCropAverage, ten_crops
from ferpipe.models.inference import predict_logits
from ferpipe.models.saved import load_model, save_model
from ferpipe.models.tta import FlipAverage, with_tta
from ferpipe.serving.classifier import FerClassifier
from ferpipe.serving.export import export_onnx

IMAGES = np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_model(path, create_model("simple_cnn", widths=[8, 8, 8]), "simple_cnn", {"widths": [8, 8, 8]})
    return path


def test_flip_averages_the_logits_of_an_image_and_its_mirror(model_file: Path) -> None:
    plain, flipped = load_model(model_file), load_model(model_file, "flip")
    x = torch.from_numpy(IMAGES).float().div(255).unsqueeze(1)
    with torch.no_grad():
        expected = (plain(x) + plain(x.flip(-1))) / 2
        assert torch.allclose(flipped(x), expected, atol=1e-6)
        assert not torch.allclose(flipped(x), plain(x), atol=1e-4)  # the mirror changed something
        assert torch.allclose(flipped(x.flip(-1)), flipped(x), atol=1e-5)  # and now a mirror changes nothing


@pytest.fixture
def crop_model_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "crop.pt"
    args = {"widths": [8, 8, 8], "crop": 40}
    save_model(path, create_model("simple_cnn", **args), "simple_cnn", args)
    return path


def test_a_crop_trained_model_sees_the_centre_and_is_scored_on_ten_crops(crop_model_file: Path) -> None:
    plain, ten = load_model(crop_model_file), load_model(crop_model_file, "ten_crop")
    assert isinstance(ten, TenCropAverage)
    x = torch.from_numpy(IMAGES).float().div(255).unsqueeze(1)
    with torch.no_grad():
        assert torch.allclose(plain(x), plain(x[..., 4:44, 4:44]), atol=1e-6)  # a 48x48 face: its centre crop
        expected = plain(ten_crops(x, 40)).view(10, len(x), -1).mean(0)
        assert torch.allclose(ten(x), expected, atol=1e-5)
        assert not torch.allclose(ten(x), plain(x), atol=1e-4)  # the corners changed something
        assert torch.allclose(ten(x.flip(-1)), ten(x), atol=1e-5)  # the ten views hold their own mirrors
    crops = ten_crops(x, 40)
    assert crops.shape == (60, 1, 40, 40)
    assert torch.equal(crops[0], x[0, :, :40, :40]) and torch.equal(crops[5 * 6], x[0, :, :40, :40].flip(-1))


def test_ten_crop_gives_a_model_trained_on_whole_faces_its_mirror(model_file: Path) -> None:
    assert isinstance(load_model(model_file, "ten_crop"), FlipAverage)
    assert not isinstance(with_tta(create_model("vgg_fer"), "ten_crop"), TenCropAverage | FlipAverage)


def test_a_crop_must_fit_the_face_and_the_blocks() -> None:
    with pytest.raises(ValueError, match=r"crop must be 0 .* or 8\.\.48 for 3 blocks, got 60"):
        create_model("simple_cnn", widths=[8, 8, 8], crop=60)
    with pytest.raises(ValueError, match="got 4"):
        create_model("simple_cnn", widths=[8, 8, 8], crop=4)


def test_onnx_carries_the_ten_crops(crop_model_file: Path, tmp_path: Path) -> None:
    assert export_onnx(crop_model_file, tmp_path / "c.onnx", IMAGES, "ten_crop") < 1e-4


def test_models_that_already_test_on_mirrored_crops_are_left_alone() -> None:
    vgg = create_model("vgg_fer")
    assert not isinstance(with_tta(vgg, "flip"), FlipAverage)
    assert isinstance(with_tta(create_model("logreg"), "flip"), FlipAverage)
    with pytest.raises(ValueError, match="unknown test-time augmentation 'ten'"):
        with_tta(vgg, "ten")


def test_the_classifier_and_onnx_use_the_views_they_are_given(model_file: Path, tmp_path: Path) -> None:
    flipped = load_model(model_file, "flip")
    expected = predict_logits(flipped, IMAGES)
    classifier = FerClassifier.load({"m": model_file}, "average", None, "flip")
    probs = classifier.predict_proba(IMAGES)
    assert np.allclose(probs, np.exp(expected) / np.exp(expected).sum(1, keepdims=True), atol=1e-5)
    assert export_onnx(model_file, tmp_path / "m.onnx", IMAGES, "flip") < 1e-4  # parity against the flipped torch

    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    got = session.run(["logits"], {"images": IMAGES[:, None].astype(np.float32) / 255})[0]
    assert np.allclose(got, expected, atol=1e-4)


def test_the_registered_classifier_records_its_views(model_file: Path, tmp_path: Path, monkeypatch) -> None:
    import mlflow

    from ferpipe import tracking
    from ferpipe.serving.classifier import CONFIG_ARTIFACT, log_classifier

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure("tta", tmp_path)
    with mlflow.start_run():
        info = log_classifier({"m": model_file}, "average", None, tmp_path / "work", "tta-model", "m", tta="flip")
    assert json.loads((tmp_path / "work" / CONFIG_ARTIFACT).read_text())["tta"] == "flip"
    served = mlflow.pyfunc.load_model(info.model_uri).unwrap_python_model().classifier
    assert served.tta == "flip" and isinstance(served.members["m"], FlipAverage)


def test_every_inference_path_answers_at_the_fitted_temperature(model_file: Path, tmp_path: Path, monkeypatch) -> None:
    """The classifier scales its probabilities; the registered one keeps its temperature; ONNX carries it."""
    import mlflow
    import onnx

    from ferpipe import tracking
    from ferpipe.evaluate.metrics import softmax
    from ferpipe.serving.classifier import log_classifier

    logits = predict_logits(load_model(model_file), IMAGES)
    classifier = FerClassifier.load({"m": model_file}, "average", None, "none", temperature=2.5)
    assert np.allclose(classifier.predict_proba(IMAGES), softmax(logits / 2.5), atol=1e-5)

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure("calibrated", tmp_path)
    with mlflow.start_run():
        info = log_classifier({"m": model_file}, "average", None, tmp_path / "work", "calibrated", "m", "none", 2.5)
    assert mlflow.pyfunc.load_model(info.model_uri).unwrap_python_model().classifier.temperature == 2.5

    export_onnx(model_file, tmp_path / "m.onnx", IMAGES, temperature=2.5)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert float(props["temperature"]) == 2.5


def test_placed_scores_as_the_default_layout_and_keeps_strided_skips_out(model_file: Path) -> None:
    cpu = torch.device("cpu")
    fast = placed(load_model(model_file, "ten_crop"), cpu)
    weight = next(p for p in fast.parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    expected = predict_logits(load_model(model_file, "ten_crop"), IMAGES)
    assert np.allclose(predict_logits(fast, IMAGES), expected, atol=1e-4)
    strided = placed(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 1, stride=2)), cpu)  # torch segfaults on it
    assert all(p.is_contiguous() for p in strided.parameters())
    xception = create_model("mini_xception").eval()  # its skips subsample first: channels-last is safe
    expected = predict_logits(xception, IMAGES)
    assert next(p for p in placed(xception, cpu).parameters() if p.dim() == 4).is_contiguous(
        memory_format=torch.channels_last
    )
    assert np.allclose(predict_logits(xception, IMAGES), expected, atol=1e-4)


def test_autocast_scores_close_to_fp32_and_returns_fp32(model_file: Path) -> None:
    model = load_model(model_file)
    low = predict_logits(model, IMAGES, autocast=torch.bfloat16)
    assert low.dtype == np.float32
    full = predict_logits(model, IMAGES)
    assert np.allclose(low, full, atol=0.1)
    assert not np.array_equal(low, full)  # it did run in bf16
