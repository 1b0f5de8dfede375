"""Pictures that lie: about their orientation (EXIF), their size (a pixel bomb) or their place (a link
out of the source). Training, predict and serving must agree on what a picture is."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ferpipe.images import MAX_PIXELS_ENV, UnreadablePicture, open_picture
from ferpipe.readers.base import LINK_OUT_REASON
from ferpipe.readers.registry import read_source
from ferpipe.serving.classifier import to_images
from ferpipe.serving.predict import read_picture
from ferpipe.sources import materialise
from tests.conftest import fetch_of, read_of

ROTATE_90_CW = 6  # EXIF orientation: the stored pixels must be turned 90 degrees clockwise to be upright


def _face(size: int = 96) -> Image.Image:
    """A picture whose orientation is plain to see: a dark top-left corner, a bright bottom band."""
    pixels = np.full((size, size), 120, dtype=np.uint8)
    pixels[: size // 3, : size // 3] = 10
    pixels[-size // 4 :, :] = 240
    return Image.fromarray(pixels)


def _sideways_jpeg(path: Path) -> Image.Image:
    """The upright face stored turned a quarter anticlockwise, with the EXIF tag that undoes it."""
    upright = _face()
    exif = Image.Exif()
    exif[0x0112] = ROTATE_90_CW
    upright.transpose(Image.Transpose.ROTATE_90).save(path, format="JPEG", quality=95, exif=exif)
    return upright


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def test_an_exif_rotated_photo_is_upright_in_training_predict_and_serving(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    upright = _sideways_jpeg(tmp_path / "happy" / "phone.jpg")
    expected = np.asarray(upright.resize((48, 48)), dtype=float)

    trained_on = read_source(tmp_path, read_of("image_folder")).images[0]
    predicted_on = np.asarray(Image.fromarray(read_picture(tmp_path / "happy" / "phone.jpg")).convert("L"))
    payload = pd.DataFrame({"image": [base64.b64encode((tmp_path / "happy" / "phone.jpg").read_bytes()).decode()]})
    served = to_images(payload)[0]

    assert _correlation(trained_on, expected) > 0.95
    assert _correlation(np.asarray(Image.fromarray(predicted_on).resize((48, 48))), expected) > 0.95
    assert _correlation(served, expected) > 0.95


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_pixel_bomb_under_pils_limit_is_refused_before_decoding_by_every_path(tmp_path: Path) -> None:
    bomb = _png(13000, 13000)  # a few hundred kB that claim 169 MP: under PIL's own 179 MP limit
    assert len(bomb) < 1_000_000
    with pytest.raises(UnreadablePicture, match="13000x13000 pixels"):
        open_picture(bomb)
    with pytest.raises(ValueError, match=r"row 0: 'image' is 13000x13000 pixels \(169 MP\), over the limit"):
        to_images(pd.DataFrame({"image": [base64.b64encode(bomb).decode()]}))
    (tmp_path / "sad").mkdir()
    (tmp_path / "sad" / "bomb.png").write_bytes(bomb)
    (tmp_path / "sad" / "fine.png").write_bytes(_png(60, 60))
    records = read_source(tmp_path, read_of("image_folder"))
    assert [(s.file, s.reason.split(" (")[0]) for s in records.skipped] == [
        ("sad/bomb.png", "unreadable: 13000x13000 pixels")
    ]
    assert len(records) == 1


def test_the_pixel_limit_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    picture = _png(200, 100)
    assert open_picture(picture).size == (200, 100)
    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    with pytest.raises(UnreadablePicture, match=f"200x100 pixels.*{MAX_PIXELS_ENV}"):
        open_picture(picture)
    (tmp_path / "sad").mkdir()
    (tmp_path / "sad" / "wide.png").write_bytes(picture)
    assert len(read_source(tmp_path, read_of("image_folder", **{"max_pixels": 10**6}))) == 1  # readers: read.max_pixels
    assert read_source(tmp_path, read_of("image_folder", **{"max_pixels": 100})).skipped[0].file == "sad/wide.png"
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MAX_PIXELS_ENV}='lots'"):
        open_picture(picture)


@settings(max_examples=80, deadline=None)
@given(
    st.binary(max_size=4096), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"II*\x00"])
)
def test_any_bytes_are_a_picture_or_one_unreadable_error(data: bytes, magic: bytes) -> None:
    """Whatever PIL raises inside (SyntaxError, struct.error, IndexError...), the caller sees one type."""
    try:
        picture = open_picture(magic + data, max_pixels=10**6)
    except UnreadablePicture as exc:
        assert "\n" not in str(exc)
    else:
        assert picture.width * picture.height <= 10**6


def test_a_link_out_of_a_path_source_is_not_followed_but_listed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.png"
    Image.fromarray(np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)).save(outside)
    source = tmp_path / "faces"
    (source / "happy").mkdir(parents=True)
    _face().save(source / "happy" / "mine.png")
    (source / "happy" / "inside_link.png").symlink_to(source / "happy" / "mine.png")
    (source / "happy" / "stranger.png").symlink_to(outside)
    raw = tmp_path / "raw"
    materialise("faces", fetch_of({"kind": "path", "path": str(source)}), raw, tmp_path)

    copied = sorted(p.name for p in (raw / "faces" / "happy").iterdir())
    assert copied == ["inside_link.png", "mine.png"]  # the link out left no bytes behind
    records = read_source(raw / "faces", read_of("image_folder"))
    assert [(s.file, s.reason) for s in records.skipped] == [("happy/stranger.png", LINK_OUT_REASON)]
