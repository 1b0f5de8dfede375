"""The synthetic source, the local path source, and safe archive extraction."""

from __future__ import annotations

import csv
import io
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferpipe.data.audit import exact_pairs
from ferpipe.data.prepare import prepare
from ferpipe.labels import CLASSES
from ferpipe.readers.formats.read_fer2013_csv import read_fer2013_csv
from ferpipe.sources import archive, materialise
from ferpipe.sources.archive import UnsafeArchiveError, extract_archive
from ferpipe.sources.faces import EXPRESSIONS, RenderOptions, render_faces
from tests.conftest import TINY_SOURCES, fetch_of, prepare_of, read_of, sources_of


def test_renderer_is_seeded_and_shaped() -> None:
    labels = np.arange(len(EXPRESSIONS))
    a = render_faces(np.random.default_rng(5), labels, RenderOptions())
    b = render_faces(np.random.default_rng(5), labels, RenderOptions())
    c = render_faces(np.random.default_rng(6), labels, RenderOptions(size=96, rgb=True))
    assert a.shape == (8, 48, 48) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert c.shape == (8, 96, 96, 3)
    assert a.std() > 10  # real pictures, not flat frames


def test_fer2013_layout_is_the_kaggle_csv(tiny_raw: Path) -> None:
    with open(tiny_raw / "fer2013" / "fer2013.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["emotion", "pixels", "Usage"]
    usages = {r[2] for r in rows[1:]}
    assert usages == {"Training", "PublicTest", "PrivateTest"}
    assert all(len(r[1].split()) == 48 * 48 for r in rows[1:])
    assert len(rows) - 1 == 420 + 140 + 140 + 5  # plus the duplicated rows


def test_fer2013_layout_is_imbalanced_like_fer2013(tiny_raw: Path) -> None:
    with open(tiny_raw / "fer2013" / "fer2013.csv", newline="") as handle:
        labels = [int(r["emotion"]) for r in csv.DictReader(handle)]
    counts = np.bincount(labels, minlength=7)
    assert counts[1] == counts.min()  # disgust is the rare class
    assert counts[3] == counts.max()  # happy is the common one


def test_ckplus_layout_has_contempt_and_subject_names(tiny_raw: Path) -> None:
    folders = sorted(p.name for p in (tiny_raw / "ckplus" / "CK+48").iterdir())
    assert folders == ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    files = list((tiny_raw / "ckplus").rglob("*.png"))
    assert len(files) == 90
    assert all(f.name.startswith("S") and f.name.count("_") == 2 for f in files)
    with Image.open(files[0]) as img:
        assert img.mode == "L" and img.size == (48, 48)


def test_image_folder_layout_is_rgb_jpeg(tiny_raw: Path) -> None:
    folders = {p.name for p in (tiny_raw / "googlefer").iterdir()}
    assert "contempt" in folders and "neutral" in folders
    with Image.open(next((tiny_raw / "googlefer").rglob("*.jpg"))) as img:
        assert img.mode == "RGB" and img.size == (96, 96)


def _tar(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo("link")
            info.type = tarfile.SYMTYPE
            info.linkname = link
            tf.addfile(info)
    return path


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
def test_path_source_unpacks_archives(tmp_path: Path, suffix: str) -> None:
    archive = tmp_path / f"data{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("happy/a.png", b"x")
    else:
        _tar(archive, {"happy/a.png": b"x"})
    n = materialise("src", fetch_of({"kind": "path", "path": archive.name}), tmp_path / "raw", tmp_path)
    assert n == 1 and (tmp_path / "raw" / "src" / "happy" / "a.png").read_bytes() == b"x"


def test_path_source_copies_csv_gz_and_folders(tmp_path: Path) -> None:
    (tmp_path / "f.csv.gz").write_bytes(b"gz")
    (tmp_path / "tree" / "sad").mkdir(parents=True)
    (tmp_path / "tree" / "sad" / "b.png").write_bytes(b"p")
    assert materialise("a", fetch_of({"kind": "path", "path": "f.csv.gz"}), tmp_path / "raw", tmp_path) == 1
    assert materialise("b", fetch_of({"kind": "path", "path": "tree"}), tmp_path / "raw", tmp_path) == 1
    with pytest.raises(FileNotFoundError, match=r"missing\.zip"):
        materialise("c", fetch_of({"kind": "path", "path": "missing.zip"}), tmp_path / "raw", tmp_path)


def test_tar_slip_and_links_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="escape"):
        extract_archive(_tar(tmp_path / "slip.tar.gz", {"../evil": b"x"}), tmp_path / "out")
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_archive(_tar(tmp_path / "link.tar.gz", {}, link="/etc/passwd"), tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_zip_slip_and_absurd_sizes_are_refused(tmp_path: Path) -> None:
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("../../evil", b"x")
    with pytest.raises(UnsafeArchiveError, match="escape"):
        extract_archive(slip, tmp_path / "out")
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * 10_000)
    with pytest.raises(UnsafeArchiveError, match="more than 1000 bytes"):
        extract_archive(big, tmp_path / "out", max_bytes=1000)


def test_augmented_copy_rebuilds_fer2013_with_its_test_images_and_the_audit_finds_them(
    tiny_raw: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(tiny_raw / "fer2013", raw / "fer2013")
    n = materialise("copy", fetch_of({"kind": "augmented_copy", "path": "raw/fer2013", "copies": 1}), raw, tmp_path)
    pngs = sorted((raw / "copy").rglob("*.png"))
    rows = len(read_fer2013_csv(raw / "fer2013", read_of("fer2013_csv")))
    assert n == len(pngs) == 2 * rows and {p.parent.name for p in pngs} <= set(CLASSES)
    sources = {
        "fer2013": TINY_SOURCES["fer2013"],
        "copy": {"read": {"format": "image_folder", "role": "extra"}},
    }
    usage = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    manifest = prepare(sources_of(sources), raw, prepare_of({"usage_map": usage})).manifest
    leaks = exact_pairs(manifest)
    from_copy = leaks[manifest.loc[leaks["copy"], "source"].to_numpy() == "copy"]
    held = set(manifest.index[manifest["split"] != "train"])
    assert set(from_copy["held"]) == held  # every validation and test image has its copy in the extra set


def test_a_zip_bomb_is_refused_by_its_ratio_under_the_total_cap(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(archive, "RATIO_CHECKED_ABOVE", 1000)  # the real floor (64 MiB) is too big for a test
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * 1_000_000)  # about 1000 times its compressed size
    with pytest.raises(UnsafeArchiveError, match="more than 100 times its own size"):
        extract_archive(bomb, tmp_path / "out")
    extract_archive(bomb, tmp_path / "out", max_ratio=5000)  # a genuine archive: raise the cap
    assert (tmp_path / "out" / "zeros").stat().st_size == 1_000_000


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
def test_a_truncated_archive_is_one_error_naming_it(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    payload = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    if suffix == ".zip":
        with zipfile.ZipFile(whole, "w") as zf:
            zf.writestr("happy/a.png", payload)
    else:
        _tar(whole, {"happy/a.png": payload})
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    with pytest.raises(ValueError, match=rf"cut{re.escape(suffix)}: not a readable zip or tar archive"):
        materialise("src", fetch_of({"kind": "path", "path": cut.name}), tmp_path / "raw", tmp_path)
    assert not (tmp_path / "raw" / "src").exists()


def test_a_link_loop_in_a_folder_source_is_one_short_error(tmp_path: Path) -> None:
    (tmp_path / "tree" / "sad").mkdir(parents=True)
    (tmp_path / "tree" / "sad" / "b.png").write_bytes(b"p")
    (tmp_path / "tree" / "sad" / "up").symlink_to("..")
    with pytest.raises(ValueError, match=r"tree/sad/up: a link back to .*tree") as caught:
        materialise("b", fetch_of({"kind": "path", "path": "tree"}), tmp_path / "raw", tmp_path)
    assert len(str(caught.value)) < 300 and not (tmp_path / "raw" / "b").exists()
    assert [p.name for p in (tmp_path / "raw").iterdir()] == []  # no temporary left either
