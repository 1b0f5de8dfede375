"""FER+ (Microsoft's relabelling of FER2013 by 10 annotators) as the label source of FER2013's pixels.

``fer2013new.csv`` has the rows of ``fer2013.csv`` in the same order, with the header
``Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF``
(vote counts). Following the reference code (github.com/microsoft/FERPlus, ``ferplus.py``),
a single vote is treated as noise and removed first. Schemes (``read.votes_scheme``):

- ``majority``: the emotion with more than half of the remaining votes, else ``unknown``;
- ``probability``: training rows draw their label from the vote distribution (seeded);
- ``soft``: training rows learn the distribution of their emotion votes (cross-entropy on it);
  their label, which balancing and the training accuracy go by, is the emotion with the most votes;
- ``multi_target``: training rows accept every emotion with at least 30% of the votes equally
  (the loss is the negative log of the best accepted emotion's probability, as in the reference
  code); a row whose accepted emotions hold half of the votes or less is ``unknown``.

Validation and test rows always keep the majority label, so every scheme is scored alike. With
the mission's 7 classes, contempt's votes are dropped before any scheme (the rest is
renormalised). A row whose winner is ``unknown`` or ``NF`` (not a face), or with an empty image
name (not a face), gets that label, which prepare drops and counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ferpipe.choices import FERPLUS_SCHEMES, TARGET_SCHEMES
from ferpipe.labels import CLASSES, canonical_index
from ferpipe.readers.base import Records, SourceError, bounded_lines, csv_fields

if TYPE_CHECKING:
    from ferpipe.schema import Read

VOTES_FILE = "fer2013new.csv"
EMOTIONS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
HEADER = ("Usage", "Image name", *EMOTIONS)
DROPPED = ("contempt",)  # the 7-class mission
NOT_A_FACE = "NF"
TRAINING = "Training"
MULTI_TARGET_SHARE = 0.3  # multi_target: an emotion with at least this share of the votes is accepted


def read_votes(folder: Path, base: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(usage, image name, votes (n, 10)) of every row; a file that does not fit is one error naming it."""
    found = sorted(folder.rglob(VOTES_FILE))
    if len(found) != 1:
        raise SourceError(f"{folder}: expected one {VOTES_FILE} (FER+ votes) beside {base.name}, found {len(found)}")
    path = found[0]
    usages, names, votes = [], [], []
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines = bounded_lines(handle)
        header = [h.strip() for h in _fields(path, 1, next(lines, (1, ""))[1])]
        if tuple(header) != HEADER:
            raise SourceError(f"{path}: header is {header}, expected {list(HEADER)}")
        for row, line in lines:
            fields = _fields(path, row, line)
            if len(fields) != len(HEADER):
                raise SourceError(f"{path}: row {row}: {len(fields)} fields, expected {len(HEADER)}")
            try:
                counts = [int(v) for v in fields[2:]]
            except ValueError as exc:
                raise SourceError(f"{path}: row {row}: vote counts must be integers ({exc})") from exc
            if min(counts) < 0 or sum(counts) == 0:
                raise SourceError(f"{path}: row {row}: votes {counts} do not sum to a positive count")
            usages.append(fields[0].strip())
            names.append(fields[1].strip())
            votes.append(counts)
    return usages, names, np.array(votes, dtype=np.float64).reshape(-1, len(EMOTIONS))


def _fields(path: Path, row: int, line: str | None) -> list[str]:
    """One line of the votes file as fields; the file is joined to FER2013 by row, so a bad line stops it."""
    try:
        return csv_fields(line)
    except ValueError as exc:
        raise SourceError(f"{path}: row {row}: {exc}") from None


def check_rows_agree(votes_file: Path, records: Records, vote_usages: list[str]) -> None:
    """FER+ is joined to FER2013 by row order: the row counts and every row's Usage must agree."""
    base_rows = len(records) + len(records.skipped)
    if base_rows != len(vote_usages):
        raise SourceError(
            f"{votes_file}: {len(vote_usages)} rows, but the FER2013 CSV has {base_rows}: "
            "FER+ is joined by row order, so the files must be the same release"
        )
    for row, usage in zip(records.rows, records.usages, strict=True):
        if vote_usages[row - 2] != usage:
            raise SourceError(
                f"{votes_file}: row {row}: Usage {vote_usages[row - 2]!r}, the FER2013 CSV says {usage!r}"
            )


def _cleaned(votes: np.ndarray) -> np.ndarray:
    """Votes after the reference code's outlier removal (a lone vote is noise) and without contempt's."""
    kept = votes.copy()
    kept[kept <= 1] = 0.0
    for emotion in DROPPED:
        kept[:, EMOTIONS.index(emotion)] = 0.0
    return kept


def _class_votes(kept: np.ndarray) -> np.ndarray:
    """(n, classes) the emotion votes in the canonical class order (unknown and NF left out)."""
    out = np.zeros((len(kept), len(CLASSES)))
    for column, emotion in enumerate(EMOTIONS):
        index = canonical_index(emotion)
        if index is not None:
            out[:, index] = kept[:, column]
    return out


def _accepted(kept: np.ndarray) -> np.ndarray:
    """multi_target: (n, 10) which categories hold at least MULTI_TARGET_SHARE of a row's votes."""
    return kept >= MULTI_TARGET_SHARE * kept.sum(axis=1, keepdims=True)


def labels_from_votes(votes: np.ndarray, names: list[str], usages: list[str], scheme: str, seed: int) -> list[str]:
    """One label name per row by ``scheme`` (the majority outside training): an emotion, ``unknown`` or ``NF``."""
    if scheme not in FERPLUS_SCHEMES:
        raise ValueError(f"FER+ votes scheme {scheme!r}: choose one of {', '.join(FERPLUS_SCHEMES)}")
    kept = _cleaned(votes)
    accepted = _accepted(kept)
    rng = np.random.default_rng(seed)
    labels = []
    for row, counts in enumerate(kept):
        total = counts.sum()
        top = int(counts.argmax())
        training = usages[row] == TRAINING
        if not names[row] or total == 0:
            labels.append(NOT_A_FACE)
        elif scheme == "probability" and training:
            labels.append(EMOTIONS[int(rng.choice(len(EMOTIONS), p=counts / total))])
        elif scheme == "soft" and training:
            labels.append(EMOTIONS[top])  # unknown or NF when they won: dropped like any such row
        elif scheme == "multi_target" and training:
            labels.append(EMOTIONS[top] if counts[accepted[row]].sum() > total / 2 else "unknown")
        else:
            labels.append(EMOTIONS[top] if counts[top] > total / 2 else "unknown")
    return labels


def targets_from_votes(votes: np.ndarray, scheme: str) -> np.ndarray:
    """(n, classes) float32 training targets of a ``TARGET_SCHEMES`` scheme, in the canonical class order.

    ``soft``: the emotion votes' distribution. ``multi_target``: the accepted emotions, each
    ``1 / accepted`` (the loss reads which are accepted). A row with no emotion votes gets zeros;
    its label (unknown or NF) drops it.
    """
    kept = _cleaned(votes)
    chosen = _class_votes(kept * _accepted(kept) if scheme == "multi_target" else kept)
    if scheme == "multi_target":
        chosen = (chosen > 0).astype(np.float64)
    total = chosen.sum(axis=1, keepdims=True)
    return np.divide(chosen, total, out=np.zeros_like(chosen), where=total > 0).astype(np.float32)


def relabel(folder: Path, base: Path, records: Records, cfg: Read) -> None:
    """Replace the labels FER2013's CSV gave its rows with FER+'s, joined by row."""
    vote_usages, names, votes = read_votes(folder, base)
    check_rows_agree(folder / VOTES_FILE, records, vote_usages)
    scheme = cfg.votes_scheme
    labels = labels_from_votes(votes, names, vote_usages, scheme, cfg.seed)
    records.labels = [labels[row - 2] for row in records.rows]
    if scheme in TARGET_SCHEMES:  # prepare keeps the majority for training rows it carves into validation
        index = np.array(records.rows, dtype=np.int64) - 2
        records.targets = targets_from_votes(votes, scheme)[index]
        majority = labels_from_votes(votes, names, [""] * len(names), "majority", 0)
        records.majority = [majority[i] for i in index]
