"""``ferpipe predict`` on photos: faces found, cropped and classified; no face and broken files reported."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.labels import CLASSES
from ferpipe.serving.predict import NO_FACE, UNREADABLE, read_picture
from tests.conftest import SHARED


def _photos(folder: Path) -> Path:
    """A face photo (a JAFFE image when ../shared has it, else a drawn face), a blank and a broken file."""
    folder.mkdir()
    jaffe = SHARED / "jaffe.tar.gz"
    if jaffe.exists():
        with tarfile.open(jaffe) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("KA.HA1.29.tiff"))
            (folder / "face.tiff").write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]
    Image.fromarray(np.full((60, 80, 4), 255, dtype=np.uint8), "RGBA").save(folder / "blank.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return folder


def test_predict_reports_faces_blanks_and_broken_files(workspace: Path) -> None:
    photos = _photos(workspace / "photos")
    result = CliRunner().invoke(
        app,
        ["predict", str(photos), "--ensemble", "--out", "out.csv", "--annotate", "annotated"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(workspace / "out.csv")
    by_file = {Path(f).name: row for f, row in zip(rows["file"], rows.itertuples(), strict=True)}
    assert by_file["blank.png"].label == NO_FACE and by_file["broken.jpg"].label == UNREADABLE
    assert "broken.jpg" in result.output
    # params' sources are the built-in synthetic ones: a real photo gets no real prediction, and is told so
    assert "warning: ensemble (weighted) of a, b (workspace) was trained on ferpipe's built-in synthetic" in (
        result.stderr
    )
    if (photos / "face.tiff").exists():
        face = by_file["face.tiff"]
        assert face.label in CLASSES and face.face == 0 and face.w >= 48
        assert np.isclose(sum(getattr(face, c) for c in CLASSES), 1.0, atol=1e-4)
        annotated = sorted((workspace / "annotated").glob("*face.png"))
        assert len(annotated) == 1 and Image.open(annotated[0]).size == (256, 256)


def test_one_model_or_an_ensemble_method_can_be_chosen(workspace: Path) -> None:
    photos = _photos(workspace / "photos")
    for args in (["--model", "a"], ["--ensemble", "--method", "vote"], ["--ensemble"]):
        result = CliRunner().invoke(app, ["predict", str(photos), *args, "--out", "out.json"])
        assert result.exit_code == 0, result.output
        assert len(json.loads((workspace / "out.json").read_text())) >= 2
    missing = CliRunner().invoke(app, ["predict", str(photos), "--model", "nope"])
    assert missing.exit_code == 1 and "no trained model 'nope'" in missing.output


def test_the_default_is_the_registry_champion_and_says_so_when_there_is_none(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["predict", str(_photos(workspace / "photos"))])
    assert result.exit_code == 1 and "no models:/ferpipe@champion" in result.output


def test_pictures_of_unusual_modes_are_read_as_rgb(tmp_path: Path) -> None:
    deep = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).convert("P").save(tmp_path / "palette.png")
    for name in ("deep.png", "palette.png"):
        picture = read_picture(tmp_path / name)
        assert picture.ndim == 3 and picture.shape[2] == 3 and picture.dtype == np.uint8
    assert read_picture(tmp_path / "deep.png").max() == 255


def test_an_image_over_the_decompression_bomb_limit_is_unreadable_and_the_batch_goes_on(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = _photos(workspace / "photos")
    Image.fromarray(np.zeros((400, 400), np.uint8)).save(photos / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 70_000)  # 400x400 is past twice the limit: PIL refuses it
    result = CliRunner().invoke(app, ["predict", str(photos), "--model", "a", "--out", "out.csv"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(workspace / "out.csv")
    bomb = rows[rows["file"].str.endswith("bomb.png")].iloc[0]
    assert bomb["label"] == UNREADABLE and "DecompressionBomb" in bomb["error"]
    blank = rows[rows["file"].str.endswith("blank.png")].iloc[0]
    assert blank["label"] == NO_FACE  # the rest of the batch was read


def test_a_bad_output_path_or_an_empty_input_is_refused_before_any_work(workspace: Path) -> None:
    photos = _photos(workspace / "photos")
    bad = CliRunner().invoke(app, ["predict", str(photos), "--model", "nope", "--out", "rows.txt"])
    assert bad.exit_code == 1 and "rows.txt: --out must end in .csv or .json" in bad.output  # before the model
    (workspace / "empty").mkdir()
    empty = CliRunner().invoke(app, ["predict", str(workspace / "empty"), "--model", "a"])
    assert empty.exit_code == 1 and "no image or video files in" in empty.output


def test_a_version_pickled_by_earlier_code_is_one_line_saying_how_to_register_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions registered before the classifier became a model from code are pickled objects whose
    code has since moved (``ferpipe.classifier``): loading one in-process names the fix."""
    import sys

    import mlflow

    from ferpipe import tracking
    from ferpipe.serving.predict import _load_registered

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "ferpipe_moved_away.py").write_text(
        "import mlflow\n\n\nclass Old(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n        return model_input\n"
    )
    monkeypatch.syspath_prepend(str(legacy))
    old = __import__("ferpipe_moved_away").Old()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure("legacy", tmp_path)
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="m", python_model=old, registered_model_name="legacy")
    monkeypatch.delitem(sys.modules, "ferpipe_moved_away")
    sys.path.remove(str(legacy))
    with pytest.raises(
        ValueError,
        match=r"models:/legacy/1 was registered by an earlier ferpipe as a pickled classifier .*"
        r"No module named 'ferpipe_moved_away'.*`dvc repro --force ensemble`, then `ferpipe promote NEW_VERSION`",
    ):
        _load_registered("models:/legacy/1")
