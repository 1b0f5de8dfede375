"""Readers: FER2013 CSV and image folders, with bad input named by file and row."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferpipe.readers.base import SourceError, to_grey
from ferpipe.readers.registry import read_source
from tests.conftest import read_of

GOOD = " ".join(["7"] * 2304)


def _csv(folder: Path, text: str, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("fer2013.csv.gz" if gz else "fer2013.csv")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_fer2013_csv_reads_labels_and_usage(tmp_path: Path, gz: bool) -> None:
    _csv(tmp_path, f"emotion,pixels,Usage\n3,{GOOD},Training\n0,{GOOD},PublicTest\n", gz)
    records = read_source(tmp_path, read_of("fer2013_csv"))
    assert records.labels == ["happy", "angry"]
    assert records.usages == ["Training", "PublicTest"]
    assert records.images[0].shape == (48, 48) and records.images[0][0, 0] == 7


def test_bad_rows_are_skipped_with_their_row_number(tmp_path: Path) -> None:
    _csv(tmp_path, f"emotion,pixels,Usage\n3,{GOOD},Training\n3,1 2 3,Training\n3,{GOOD[:-1]}x,Training\n")
    records = read_source(tmp_path, read_of("fer2013_csv"))
    assert len(records) == 1
    assert [(s.row, s.reason) for s in records.skipped] == [
        (3, "3 pixel values, expected 2304"),
        (4, "pixels are not integers"),
    ]


def test_bad_rows_fail_when_asked(tmp_path: Path) -> None:
    _csv(tmp_path, "emotion,pixels,Usage\n3,1 2 3,Training\n")
    with pytest.raises(SourceError, match=r"fer2013.csv: row 2: 3 pixel values"):
        read_source(tmp_path, read_of("fer2013_csv", **{"on_error": "fail"}))


def test_wrong_header_names_the_file(tmp_path: Path) -> None:
    _csv(tmp_path, f"label,pixels,Usage\n3,{GOOD},Training\n")
    with pytest.raises(SourceError, match=r"fer2013.csv: header is"):
        read_source(tmp_path, read_of("fer2013_csv"))


def test_image_folder_reads_modes_and_skips_broken_files(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    Image.new("RGBA", (64, 80), (200, 10, 10, 128)).save(tmp_path / "happy" / "rgba.png")
    Image.new("P", (48, 48), 3).save(tmp_path / "happy" / "palette.png")
    Image.fromarray(np.full((50, 50), 40000, dtype=np.uint16)).save(tmp_path / "happy" / "deep.png")
    (tmp_path / "happy" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "happy" / "empty.jpg").write_bytes(b"")
    records = read_source(tmp_path, read_of("image_folder"))
    assert len(records) == 3 and set(records.labels) == {"happy"}
    assert all(img.shape == (48, 48) and img.dtype == np.uint8 for img in records.images)
    assert sorted(s.file for s in records.skipped) == ["happy/broken.png", "happy/empty.jpg"]
    with pytest.raises(SourceError, match=r"broken\.png"):
        read_source(tmp_path, read_of("image_folder", **{"on_error": "fail"}))


def test_ckplus_reader_keeps_subjects(tiny_raw: Path) -> None:
    records = read_source(tiny_raw / "ckplus", read_of("ckplus"))
    assert len(records) == 90
    assert all(s.startswith("S") for s in records.subjects)
    assert "contempt" in records.labels  # dropped later, by prepare's label mapping


def test_to_grey_crops_to_square() -> None:
    image = Image.new("L", (100, 50), 0)
    image.paste(255, (25, 0, 75, 50))  # a white centre square
    grey = to_grey(image)
    assert grey.shape == (48, 48) and grey.mean() > 240


def test_a_missing_folder_names_the_download_stage(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="run the download stage"):
        read_source(tmp_path / "nope", read_of("fer2013_csv"))


def _png(path: Path, value: int = 100, size: tuple[int, int] = (60, 60)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)


def test_fer2013_image_release_takes_usage_from_the_file_name(tmp_path: Path) -> None:
    _png(tmp_path / "train" / "happy" / "Training_10.png")
    _png(tmp_path / "test" / "sad" / "PublicTest_3.png")
    _png(tmp_path / "test" / "sad" / "PrivateTest_4.png")
    _png(tmp_path / "test" / "sad" / "stray.png")
    records = read_source(tmp_path, read_of("fer2013_folders"))
    assert sorted(zip(records.labels, records.usages, strict=True)) == [
        ("happy", "Training"),
        ("sad", "PrivateTest"),
        ("sad", "PublicTest"),
    ]
    assert [s.file for s in records.skipped] == ["test/sad/stray.png"]


def test_kdef_names_give_label_subject_and_angle(tmp_path: Path) -> None:
    for name in ("AF01AFS.JPG", "AF01HAS.JPG", "BM12SUS.JPG", "AF01HAHL.JPG"):
        _png(tmp_path / name[:4] / name.replace(".JPG", ".png"))
    records = read_source(tmp_path, read_of("kdef", **{"face_crop": False}))
    assert sorted(zip(records.labels, records.subjects, strict=True)) == [
        ("fear", "F01"),
        ("happy", "F01"),
        ("surprise", "M12"),
    ]  # the half-left profile is left out


def test_jaffe_names_give_label_and_subject(tmp_path: Path) -> None:
    for name in ("KA.AN1.39.tiff", "NA.SU2.81.tiff"):
        _png(tmp_path / "JAFFE" / name, size=(256, 256))  # PIL writes TIFF by the suffix
    records = read_source(tmp_path, read_of("jaffe", **{"face_crop": False}))
    assert sorted(zip(records.labels, records.subjects, strict=True)) == [("AN", "KA"), ("SU", "NA")]
