"""Readers under hostile input: a corpus of broken files, then random bytes and random CSV rows.

Whatever arrives, a reader either returns records (bad items counted as skipped, with the file
and row) or raises SourceError naming the file; it never crashes with anything else.
"""

from __future__ import annotations

import io
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ferpipe.readers import SourceError, read_source


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_corpus_of_broken_images_is_skipped_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "happy"
    folder.mkdir()
    good = _jpeg_bytes()
    (folder / "good.jpg").write_bytes(good)
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "zero.png").write_bytes(b"")
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    Image.new("L", (400, 400)).save(folder / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 400x400 is then a decompression bomb
    records = read_source("image_folder", tmp_path, {})
    assert len(records) == 1
    skipped = {s.file: s.reason for s in records.skipped}
    assert set(skipped) == {"happy/truncated.jpg", "happy/zero.png", "happy/garbage.png", "happy/huge.png"}
    assert all(reason.startswith("unreadable:") for reason in skipped.values())
    with pytest.raises(SourceError, match=r"happy/(garbage|huge|truncated|zero)"):
        read_source("image_folder", tmp_path, {"on_error": "fail"})


def test_an_empty_source_is_named(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    with pytest.raises(SourceError, match=str(tmp_path)):
        read_source("image_folder", tmp_path, {})


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_as_an_image_never_crash_the_reader(tmp_path_factory, data: bytes) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "sad").mkdir()
    (root / "sad" / "x.png").write_bytes(data)
    try:
        records = read_source("image_folder", root, {})
    except SourceError as exc:
        assert "x.png" in str(exc) or str(root) in str(exc)
        return
    assert len(records) + len(records.skipped) == 1


pixel_rows = st.one_of(
    st.text(alphabet=string.digits + " -x.", max_size=40),
    # near-valid rows: a few random values (any size of integer) padded to about 2304
    st.tuples(st.lists(st.integers(), max_size=6), st.integers(2296, 2304)).map(
        lambda drawn: " ".join(map(str, drawn[0] + [7] * (drawn[1] - len(drawn[0]))))
    ),
)


@FUZZ
@given(st.lists(st.tuples(st.text(alphabet=string.printable, max_size=4), pixel_rows), min_size=1, max_size=5))
def test_random_csv_rows_are_read_or_skipped_with_their_row(tmp_path_factory, rows) -> None:
    root = tmp_path_factory.mktemp("csv")
    lines = ["emotion,pixels,Usage"] + [f'"{e.replace(chr(34), "")}","{p}",Training' for e, p in rows]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    try:
        records = read_source("fer2013_csv", root, {})
    except SourceError as exc:
        assert "fer2013.csv" in str(exc)
        return
    assert len(records) + len(records.skipped) == len(rows)
    assert all(2 <= s.row <= len(rows) + 1 and s.file == "fer2013.csv" for s in records.skipped)
