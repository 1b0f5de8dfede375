"""FER+ votes as FER2013's labels: the twin, hand-made rows in the real format, and files that do not fit."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ferpipe.data.prepare import prepare
from ferpipe.readers import SourceError, read_source
from ferpipe.readers.ferplus import EMOTIONS, HEADER, labels_from_votes
from ferpipe.sources import materialise

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
    records = read_source("fer2013_csv", _by_hand(tmp_path, BASE, VOTES), {"votes": True})
    assert records.labels == ["happiness", "unknown", "NF", "neutral", "fear"]
    assert records.usages == ["Training", "Training", "PublicTest", "PrivateTest", "Training"]


def test_prepare_drops_unknown_and_not_a_face_and_counts_them(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    surprise = ["PublicTest", "fer0000005.png", 0, 0, 8, 0, 0, 0, 0, 0, 0, 2]
    _by_hand(raw / "fer", [*BASE, (5, "PublicTest")], [*VOTES, surprise])
    source = {"fer": {"read": {"format": "fer2013_csv", "role": "primary", "votes": True}}}
    result = prepare(source, raw, {"usage_map": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}})
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
    ],
)  # fmt: skip
def test_votes_that_do_not_fit_are_one_error_naming_file_and_row(tmp_path: Path, votes: list, message: str) -> None:
    folder = _by_hand(tmp_path, BASE, votes)
    with pytest.raises(SourceError, match=rf"fer2013new.csv: {message}"):
        read_source("fer2013_csv", folder, {"votes": True})


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
    materialise("fer", fetch, tmp_path, tmp_path)
    plain = read_source("fer2013_csv", tmp_path / "fer", {})
    ferplus = read_source("fer2013_csv", tmp_path / "fer", {"votes": True})
    assert ferplus.labels.count("NF") == 4  # the blank frames
    assert 0 < ferplus.labels.count("unknown") < 0.3 * len(ferplus)
    names = {"happiness": "happy", "sadness": "sad", "anger": "angry"}
    agree = np.mean([names.get(a, a) == b for a, b in zip(ferplus.labels, plain.labels, strict=True)])
    assert 0.4 < agree < 0.9  # FER2013's labels carry 30% noise here; FER+'s annotators see the face
