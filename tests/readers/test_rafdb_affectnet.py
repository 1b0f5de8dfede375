"""RAF-DB and AffectNet: each reader on its synthetic twin, on hand-made files in the real format, and on bad rows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferpipe.data.prepare import prepare
from ferpipe.labels import CLASSES
from ferpipe.readers.base import SourceError
from ferpipe.readers.registry import read_source
from ferpipe.sources import materialise
from tests.conftest import fetch_of, prepare_of, read_of, sources_of

AFFECTNET_HEADER = [
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
]


def _twin(tmp_path: Path, layout: str, counts: dict[str, int]) -> Path:
    materialise(
        layout,
        fetch_of({"kind": "synthetic", "layout": layout, "seed": 5, "counts": counts, "size": 64}),
        tmp_path,
        tmp_path,
    )
    return tmp_path / layout


def test_the_rafdb_twin_reads_back_with_its_split_and_labels(tmp_path: Path) -> None:
    records = read_source(_twin(tmp_path, "rafdb", {"train": 30, "test": 10}), read_of("rafdb"))
    assert len(records) == 40 and not records.skipped
    assert records.usages.count("train") == 30 and records.usages.count("test") == 10
    assert set(records.labels) <= {"surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"}
    assert records.images[0].shape == (48, 48) and records.images[0].dtype == np.uint8


def test_the_affectnet_twin_reads_back_with_its_faces_cropped(tmp_path: Path) -> None:
    folder = _twin(tmp_path, "affectnet", {"training": 40, "validation": 12})
    records = read_source(folder, read_of("affectnet"))
    assert len(records) == 52 and not records.skipped
    assert set(records.usages) == {"training", "validation"}
    assert "happy" in records.labels and set(records.labels) <= {*CLASSES, "anger", "contempt", "none",
                                                                 "uncertain", "no-face"}  # fmt: skip


def _rafdb_by_hand(folder: Path, lines: list[str]) -> Path:
    (folder / "basic" / "EmoLabel").mkdir(parents=True)
    aligned = folder / "basic" / "Image" / "aligned"
    aligned.mkdir(parents=True)
    for name in ("train_00001", "train_00002", "test_00001"):
        Image.fromarray(np.full((100, 100, 3), 90, np.uint8)).save(aligned / f"{name}_aligned.jpg")
    (aligned / "train_00003_aligned.jpg").write_bytes(b"not a jpeg")
    (folder / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_rafdb_bad_lines_are_named_by_line(tmp_path: Path) -> None:
    lines = ["train_00001.jpg 4", "test_00001.jpg 7", "train_00002.jpg 9", "val_00001.jpg 1",
             "train_00004.jpg 1", "train_00003.jpg 2", "just-one-field"]  # fmt: skip
    records = read_source(_rafdb_by_hand(tmp_path, lines), read_of("rafdb"))
    assert records.labels == ["happiness", "neutral"] and records.usages == ["train", "test"]
    reasons = {skip.row: skip.reason for skip in records.skipped}
    assert "label '9' is not one of RAF-DB's codes 1-7" in reasons[3]
    assert "does not start with train_ or test_" in reasons[4]
    assert "train_00004_aligned.jpg is missing" in reasons[5]
    assert "unreadable" in reasons[6] and "expected '<image> <label>'" in reasons[7]
    with pytest.raises(SourceError, match=r"list_patition_label.txt: line 3: .*codes 1-7"):
        read_source(tmp_path, read_of("rafdb", **{"on_error": "fail"}))


def _affectnet_by_hand(folder: Path, rows: list[list]) -> Path:
    pictures = folder / "Manually_Annotated_Images" / "1"
    pictures.mkdir(parents=True)
    picture = np.zeros((120, 100, 3), np.uint8)
    picture[20:70, 30:80] = 200  # the face: bright, at x 30-80, y 20-70
    Image.fromarray(picture).save(pictures / "a.png")
    with open(folder / "training.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(AFFECTNET_HEADER)
        writer.writerows(rows)
    return folder


def test_affectnet_crops_the_face_box_and_names_bad_rows(tmp_path: Path) -> None:
    rows = [
        ["1/a.png", 30, 20, 50, 50, "", 1, 0.5, 0.2],
        ["1/a.png", 30, 20, 50, 50, "", 12, 0, 0],
        ["1/a.png", 60, 20, 50, 50, "", 3, 0, 0],
        ["1/missing.png", 0, 0, 10, 10, "", 0, 0, 0],
        ["1/a.png", "x", 20, 50, 50, "", 0, 0, 0],
        ["1/a.png", 0, 0, 100, 120, "", 9, 0, 0],
    ]
    records = read_source(_affectnet_by_hand(tmp_path, rows), read_of("affectnet"))
    assert records.labels == ["happy", "uncertain"] and records.rows == [2, 7]
    assert records.images[0].min() > 150  # only the bright face was kept
    reasons = {skip.row: skip.reason for skip in records.skipped}
    assert "expression 12 is not one of AffectNet's codes 0-10" in reasons[3]
    assert "face box (60, 20, 50, 50) is outside the 100x120 picture" in reasons[4]
    assert "the picture is missing" in reasons[5] and "must be numbers" in reasons[6]
    with pytest.raises(SourceError, match=r"training.csv: row 3: "):
        read_source(tmp_path, read_of("affectnet", **{"on_error": "fail"}))


def test_affectnet_without_its_columns_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "training.csv").write_text("path,label\n1/a.png,3\n")
    with pytest.raises(SourceError, match=r"training.csv: missing the column\(s\) \['subDirectory_filePath'"):
        read_source(tmp_path, read_of("affectnet"))


def test_prepare_maps_the_official_splits_and_counts_what_it_drops(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _twin(raw, "rafdb", {"train": 40, "test": 20})
    _twin(raw, "affectnet", {"training": 60, "validation": 20})
    sources = {
        "rafdb": {"read": {"format": "rafdb", "role": "primary"}},
        "affectnet": {"read": {"format": "affectnet", "role": "primary"}},
    }
    usage_map = {"train": "train", "test": "test", "training": "train", "validation": "test"}
    result = prepare(sources_of(sources), raw, prepare_of({"usage_map": usage_map, "val_fraction": 0.2, "seed": 0}))
    by_source = result.manifest.groupby("source")["split"].agg(set)
    assert by_source["rafdb"] == by_source["affectnet"] == {"train", "val", "test"}
    dropped = result.report["dropped"]
    assert any(key.startswith("affectnet: label 'no-face'") for key in dropped), dropped
    assert not any(key.startswith("rafdb: label") for key in dropped)
