"""FER+ votes as FER2013's labels: the twin, hand-made rows in the real format, and files that do not fit."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ferpipe.data.dataset import target_columns
from ferpipe.data.prepare import prepare
from ferpipe.labels import CLASSES, canonical_index
from ferpipe.readers.base import SourceError
from ferpipe.readers.ferplus import EMOTIONS, HEADER, labels_from_votes, targets_from_votes
from ferpipe.readers.registry import read_source
from ferpipe.sources import materialise
from tests.conftest import fetch_of, prepare_of, read_of, sources_of

PIXELS = " ".join(["128"] * 2304)


def _by_hand(folder: Path, base: list[tuple[int, str]], votes: list[list]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "fer2013.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(
            [label, PIXELS.replace("128", str(100 + i), 1), usage] for i, (label, usage) in enumerate(base)
        )
    with open(folder / "fer2013new.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(votes)
    return folder


BASE = [(3, "Training"), (0, "Training"), (6, "PublicTest"), (5, "PrivateTest"), (4, "Training")]
VOTES = [
    ["Training", "fer0000000.png", 0, 6, 2, 1, 1, 0, 0, 0, 0, 0],  # lone votes removed: happiness 6 of 8
    ["Training", "fer0000001.png", 3, 3, 2, 0, 0, 0, 0, 0, 2, 0],  # 3 of 10 is no majority: unknown
    ["PublicTest", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # no image name: not a face
    ["PrivateTest", "fer0000003.png", 2, 0, 0, 0, 0, 0, 0, 8, 0, 0],  # contempt dropped: neutral is all that is left
    ["Training", "fer0000004.png", 0, 0, 0, 0, 0, 0, 9, 0, 0, 1],
]


def test_majority_labels_by_the_reference_rules(tmp_path: Path) -> None:
    records = read_source(_by_hand(tmp_path, BASE, VOTES), read_of("fer2013_csv", **{"votes": True}))
    assert records.labels == ["happiness", "unknown", "NF", "neutral", "fear"]
    assert records.usages == ["Training", "Training", "PublicTest", "PrivateTest", "Training"]


def test_prepare_drops_unknown_and_not_a_face_and_counts_them(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    surprise = ["PublicTest", "fer0000005.png", 0, 0, 8, 0, 0, 0, 0, 0, 0, 2]
    _by_hand(raw / "fer", [*BASE, (5, "PublicTest")], [*VOTES, surprise])
    source = {"fer": {"read": {"format": "fer2013_csv", "role": "primary", "votes": True}}}
    result = prepare(
        sources_of(source),
        raw,
        prepare_of({"usage_map": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}}),
    )
    assert sorted(result.manifest["label_name"]) == ["fear", "happy", "neutral", "surprise"]
    assert result.report["dropped"] == {
        "fer: label 'NF' is not one of the 7 classes": 1,
        "fer: label 'unknown' is not one of the 7 classes": 1,
    }


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        (VOTES[:4], r"4 rows, but the FER2013 CSV has 5: FER\+ is joined by row order"),
        ([*VOTES[:2], ["Training", *VOTES[2][1:]], *VOTES[3:]], r"row 4: Usage 'Training', the FER2013 CSV says"),
        ([*VOTES[:4], ["Training", "x.png", *[0] * 10]], r"row 6: votes .* do not sum to a positive count"),
        ([*VOTES[:4], ["Training", "x.png", 0, 0, 0, 0, "two", 0, 0, 0, 0, 0]], r"row 6: vote counts must be integers"),
        ([*VOTES[:4], ["Training", "x.png", 0, 0, 0, 0, 0, 0, 0, 0, 10]], r"row 6: 11 fields, expected 12"),
        ([*VOTES[:4], ["Training", "x" * 70_000, *[1] * 10]], r"row 6: a line over 65536 characters"),  # bounded
    ],
)  # fmt: skip
def test_votes_that_do_not_fit_are_one_error_naming_file_and_row(tmp_path: Path, votes: list, message: str) -> None:
    folder = _by_hand(tmp_path, BASE, votes)
    with pytest.raises(SourceError, match=rf"fer2013new.csv: {message}"):
        read_source(folder, read_of("fer2013_csv", **{"votes": True}))


def test_probability_draws_training_labels_from_the_votes_and_keeps_majority_elsewhere() -> None:
    votes = np.zeros((4000, len(EMOTIONS)))
    votes[:, EMOTIONS.index("happiness")] = 6
    votes[:, EMOTIONS.index("sadness")] = 4
    names = ["x.png"] * 4000
    usages = ["Training"] * 3000 + ["PublicTest"] * 1000
    labels = labels_from_votes(votes, names, usages, "probability", seed=0)
    happy_share = labels[:3000].count("happiness") / 3000
    assert 0.57 < happy_share < 0.63 and set(labels[:3000]) == {"happiness", "sadness"}
    assert set(labels[3000:]) == {"happiness"}
    assert labels == labels_from_votes(votes, names, usages, "probability", seed=0)


def test_the_twin_votes_mostly_for_the_drawn_expression(tmp_path: Path) -> None:
    fetch = {"kind": "synthetic", "layout": "fer2013_csv", "seed": 1, "counts": {"Training": 300, "PublicTest": 60},
             "label_noise": 0.3, "blank": 4, "votes": True}  # fmt: skip
    materialise("fer", fetch_of(fetch), tmp_path, tmp_path)
    plain = read_source(tmp_path / "fer", read_of("fer2013_csv"))
    ferplus = read_source(tmp_path / "fer", read_of("fer2013_csv", **{"votes": True}))
    assert ferplus.labels.count("NF") == 4  # the blank frames
    assert 0 < ferplus.labels.count("unknown") < 0.3 * len(ferplus)
    names = {"happiness": "happy", "sadness": "sad", "anger": "angry"}
    agree = np.mean([names.get(a, a) == b for a, b in zip(ferplus.labels, plain.labels, strict=True)])
    assert 0.4 < agree < 0.9  # FER2013's labels carry 30% noise here; FER+'s annotators see the face


def test_soft_targets_are_the_emotion_votes_and_held_out_rows_keep_the_majority(tmp_path: Path) -> None:
    votes = [*VOTES[:4], ["Training", "fer0000004.png", 0, 4, 0, 3, 3, 0, 0, 0, 0, 0]]  # 4-3-3: no majority
    records = read_source(
        _by_hand(tmp_path, BASE, votes), read_of("fer2013_csv", **{"votes": True, "votes_scheme": "soft"})
    )
    assert records.labels == ["happiness", "neutral", "NF", "neutral", "happiness"]  # training rows: the most votes
    assert records.majority == ["happiness", "unknown", "NF", "neutral", "unknown"]
    happy, neutral, sad, angry = (CLASSES.index(c) for c in ("happy", "neutral", "sad", "angry"))
    assert records.targets.shape == (5, 7) and records.targets.dtype == np.float32
    surprise = CLASSES.index("surprise")
    assert records.targets[0, [happy, surprise]] == pytest.approx([0.75, 0.25])  # the lone votes removed
    assert records.targets[1, [neutral, happy, surprise]] == pytest.approx([3 / 8, 3 / 8, 2 / 8])
    assert records.targets[4, [happy, sad, angry]] == pytest.approx([0.4, 0.3, 0.3])
    assert records.targets[2].sum() == 0  # not a face: no emotion votes (prepare drops it)


def test_multi_target_accepts_every_emotion_with_thirty_percent() -> None:
    votes = np.zeros((3, len(EMOTIONS)))
    votes[0, [EMOTIONS.index("happiness"), EMOTIONS.index("surprise"), EMOTIONS.index("fear")]] = [4, 4, 2]
    votes[1, [EMOTIONS.index("sadness"), EMOTIONS.index("neutral"), EMOTIONS.index("unknown")]] = [3, 2, 5]
    votes[2, [EMOTIONS.index("anger"), EMOTIONS.index("disgust")]] = [7, 3]
    names, usages = ["x.png"] * 3, ["Training"] * 3
    assert labels_from_votes(votes, names, usages, "multi_target", 0) == ["happiness", "unknown", "anger"]
    targets = targets_from_votes(votes, "multi_target")
    happy, surprise, angry, disgust = (CLASSES.index(c) for c in ("happy", "surprise", "angry", "disgust"))
    assert np.flatnonzero(targets[0]).tolist() == sorted([happy, surprise]) and targets[0].sum() == pytest.approx(1)
    assert np.flatnonzero(targets[2]).tolist() == sorted([angry, disgust])
    assert labels_from_votes(votes, names, ["PublicTest"] * 3, "multi_target", 0) == ["unknown", "unknown", "anger"]


@pytest.mark.parametrize("scheme", ["soft", "multi_target"])
def test_prepare_carries_targets_and_scores_carved_validation_rows_on_the_majority(tmp_path: Path, scheme) -> None:
    raw = tmp_path / "raw"
    fetch = {"kind": "synthetic", "layout": "fer2013_csv", "seed": 3, "counts": {"Training": 400, "PublicTest": 80},
             "label_noise": 0.0, "blank": 0, "duplicates": 0, "votes": True}  # fmt: skip
    materialise("fer", fetch_of(fetch), raw, raw)
    materialise(
        "jaffe",
        fetch_of({"kind": "synthetic", "layout": "ckplus", "seed": 2, "sequences": 10, "subjects": 5}),
        raw,
        raw,
    )
    read = {"format": "fer2013_csv", "role": "primary", "votes": True, "votes_scheme": scheme}
    sources = {"fer": {"read": read}, "jaffe": {"read": {"format": "ckplus", "role": "extra"}}}
    cfg = {"usage_map": {"Training": "train", "PublicTest": "test"}, "val_fraction": 0.25, "seed": 0}
    result = prepare(sources_of(sources), raw, prepare_of(cfg))
    manifest = result.manifest
    columns = target_columns(scheme)
    assert manifest[columns].notna().all().all()
    extra = manifest[manifest["source"] == "jaffe"]
    assert (extra[columns].to_numpy().argmax(1) == extra["label"]).all() and (extra[columns].max(1) == 1).all()
    majority = read_source(raw / "fer", read_of("fer2013_csv", **{**read, "votes_scheme": "majority"}))
    by_row = dict(zip(majority.rows, majority.labels, strict=True))
    held = manifest[(manifest["source"] == "fer") & (manifest["split"] != "train")]
    assert len(held) > 50 and [CLASSES[i] for i in held["label"]] == [canonical_name(by_row[r]) for r in held["row"]]
    assert result.report["dropped"].get("fer: no majority label for a held-out row", 0) > 0


def canonical_name(label: str) -> str:
    return CLASSES[canonical_index(label)]
