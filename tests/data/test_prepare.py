"""Merge and clean: labels, splits, blanks and duplicates, resolved in favour of evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferpipe.data.prepare import prepare
from ferpipe.readers.base import SourceError
from tests.conftest import TINY_SOURCES, fetch_of, prepare_of, sources_of

OFFICIAL = {"usage_map": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}}
FER = {"read": {"format": "fer2013_csv", "role": "primary"}}


def _image(seed: int) -> str:
    return " ".join(map(str, np.random.default_rng(seed).integers(0, 256, 2304)))


def _write(raw: Path, rows: list[tuple[int, int, str]]) -> None:
    """Rows of (label, image seed, usage); seed -1 is a blank image."""
    folder = raw / "fer2013"
    folder.mkdir(parents=True)
    lines = ["emotion,pixels,Usage"] + [
        f"{label},{' '.join(['0'] * 2304) if seed < 0 else _image(seed)},{usage}" for label, seed, usage in rows
    ]
    (folder / "fer2013.csv").write_text("\n".join(lines) + "\n")


def test_tiny_sources_merge_with_contempt_dropped(tiny_raw: Path) -> None:
    result = prepare(sources_of(TINY_SOURCES), tiny_raw, prepare_of(OFFICIAL))
    m = result.manifest
    assert len(result.images) == len(m) and result.images.shape[1:] == (48, 48)
    assert set(m.loc[m["source"] != "fer2013", "split"]) == {"train"}  # extras train only
    assert result.report["splits"]["val"] == 140 and result.report["splits"]["test"] == 140
    dropped = result.report["dropped"]
    assert dropped["ckplus: label 'contempt' is not one of the 7 classes"] > 0
    assert dropped["fer2013: blank image"] == 3
    assert dropped["fer2013: exact duplicate"] == 5
    assert m["sha1"].is_unique


def test_duplicates_are_resolved_within_splits_and_left_to_the_audit_across(tmp_path: Path) -> None:
    _write(
        tmp_path,
        [
            (3, 1, "Training"),
            (3, 1, "PrivateTest"),
            (4, 2, "Training"),
            (4, 2, "Training"),
            (5, 3, "PublicTest"),
            (0, 4, "Training"),
            (1, 4, "Training"),
            (6, 5, "Training"),
            (6, -1, "Training"),
        ],
    )
    result = prepare(sources_of({"fer2013": FER}), tmp_path, prepare_of(OFFICIAL))
    m = result.manifest
    assert list(m["split"]) == ["train", "test", "train", "val", "train"]  # the cross-split copy stays
    assert result.report["dropped"] == {
        "fer2013: exact duplicate": 1,
        "fer2013: exact duplicates with conflicting labels": 2,
        "fer2013: blank image": 1,
    }


def test_validation_is_carved_stratified_from_primary_training(tmp_path: Path) -> None:
    _write(tmp_path, [(i % 2 * 3, i, "Training") for i in range(40)] + [(3, 100, "PublicTest")])
    cfg = {"usage_map": {"Training": "train", "PublicTest": "test"}, "val_fraction": 0.25, "seed": 0}
    m = prepare(sources_of({"fer2013": FER}), tmp_path, prepare_of(cfg)).manifest
    val = m[m["split"] == "val"]
    assert len(val) == 10 and sorted(val["label"].value_counts().tolist()) == [5, 5]


def test_unmapped_usage_is_counted_and_listed_by_row(tmp_path: Path) -> None:
    _write(tmp_path, [(3, 1, "Training"), (3, 2, "PublicTest"), (3, 3, "PrivateTest"), (3, 4, "Elsewhere")])
    result = prepare(sources_of({"fer2013": FER}), tmp_path, prepare_of(OFFICIAL))
    reason = "usage 'Elsewhere' is not mapped to a split (prepare.usage_map)"
    assert result.report["dropped"] == {f"fer2013: {reason}": 1}
    assert result.skipped.to_dict("records") == [
        {"source": "fer2013", "file": "fer2013.csv", "row": 5, "reason": reason}
    ]


def test_unknown_labels_skip_or_fail(tmp_path: Path) -> None:
    _write(tmp_path, [(3, 1, "Training"), (9, 2, "Training"), (3, 3, "PublicTest"), (3, 4, "PrivateTest")])
    result = prepare(sources_of({"fer2013": FER}), tmp_path, prepare_of(OFFICIAL))
    assert result.report["dropped"] == {"fer2013: unknown label '9'": 1}
    strict = {"read": {**FER["read"], "on_error": "fail"}}
    with pytest.raises(SourceError, match=r"fer2013.csv: row 3: unknown label '9'"):
        prepare(sources_of({"fer2013": strict}), tmp_path, prepare_of(OFFICIAL))


def test_an_empty_split_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, [(3, 1, "Training"), (3, 2, "PublicTest")])
    with pytest.raises(SourceError, match=r"no images left in split\(s\) \['test'\]"):
        prepare(sources_of({"fer2013": FER}), tmp_path, prepare_of(OFFICIAL))


def test_sources_without_usage_are_split_by_subject(tiny_raw: Path) -> None:
    ckplus = {"ckplus": {"read": {"format": "ckplus", "role": "primary"}}}
    cfg = {"test_fraction": 0.3, "val_fraction": 0.2, "seed": 0}
    m = prepare(sources_of(ckplus), tiny_raw, prepare_of(cfg)).manifest
    sides = m.groupby("subject")["split"].nunique()
    assert set(m["split"]) == {"train", "val", "test"}
    assert (sides == 1).all()  # every subject's frames sit on one side only


def test_subsample_keeps_a_share_of_every_split_and_class(tiny_raw: Path) -> None:
    full = prepare(sources_of(TINY_SOURCES), tiny_raw, prepare_of(OFFICIAL))
    quick = prepare(sources_of(TINY_SOURCES), tiny_raw, prepare_of({**OFFICIAL, "subsample": 0.25}))
    for split, n in full.report["splits"].items():
        assert quick.report["splits"][split] == pytest.approx(n * 0.25, abs=8)
    assert set(quick.manifest["label"]) == set(full.manifest["label"])
    assert any("prepare.subsample=0.25" in reason for reason in quick.report["dropped"])


def test_the_standard_preset_splits_by_usage_from_one_location(tmp_path: Path) -> None:
    """presets/fer2013.yaml on a local copy of the CSV: Training trains, PublicTest validates, PrivateTest tests;
    a Kaggle-style header (icml_face_data.csv: "emotion, Usage, pixels") reads the same."""
    from ferpipe.config import load_yaml
    from ferpipe.sources import materialise
    from tests.conftest import REPO

    preset = load_yaml(REPO / "presets" / "fer2013.yaml")
    usages = ("Training", "PublicTest", "PrivateTest")
    rows = [(i % 7, 100 * k + i, usage) for k, usage in enumerate(usages) for i in range(20)]
    _write(tmp_path / "csv", rows)
    csv_file = tmp_path / "csv" / "fer2013" / "fer2013.csv"
    emotion_usage_pixels = ["emotion, Usage, pixels"] + [
        f"{e},{u},{p}" for e, p, u in (line.split(",") for line in csv_file.read_text().splitlines()[1:])
    ]
    csv_file.write_text("\n".join(emotion_usage_pixels) + "\n")
    fetch = {**preset["sources"]["fer2013"]["fetch"], "where": str(csv_file)}
    materialise("fer2013", fetch_of(fetch), tmp_path / "raw", tmp_path)
    manifest = prepare(sources_of(preset["sources"]), tmp_path / "raw", prepare_of(preset["prepare"])).manifest
    assert manifest["split"].value_counts().to_dict() == {"train": 20, "val": 20, "test": 20}
