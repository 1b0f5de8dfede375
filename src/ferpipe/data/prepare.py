"""Merge and clean: every source into one 48x48 grey dataset with a manifest and a report.

Order matters for honesty: splits are fixed first (the official split of the primary source;
extra sources go to training only; validation is carved from the primary training rows), and
only then are exact duplicates resolved within each split. Copies across splits are left to
the ``audit`` stage, which finds exact and near copies and keeps them out of training.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from ferpipe.data.dataset import CROSS, target_columns, target_kind
from ferpipe.labels import CLASSES, UnknownLabelError, canonical_index
from ferpipe.readers.base import Records, SourceError
from ferpipe.readers.registry import read_source

if TYPE_CHECKING:
    from ferpipe.schema import Prepare, Source

SPLITS = ("train", "val", "test")


@dataclass
class LeftOut:
    """What prepare leaves out: a count per (source, reason), and every item by file and row.

    Nothing is only counted: every item a reader saw is either in the prepared data or listed here
    (an unreadable file, a malformed row, a label outside the 7 classes, a duplicate, a blank face).
    """

    counts: Counter = field(default_factory=Counter)
    items: list[tuple[str, str, int, str]] = field(default_factory=list)

    def leave(self, source: str, file: str, row: int, reason: str) -> None:
        """One item left out: counted under its reason and listed with its file and row."""
        self.counts[(source, reason)] += 1
        self.items.append((source, file, row, reason))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.items, columns=["source", "file", "row", "reason"])


@dataclass
class Prepared:
    """The merged dataset: images (n, 48, 48) uint8, a manifest row per image, and a report."""

    images: np.ndarray
    manifest: pd.DataFrame
    report: dict[str, Any]
    skipped: pd.DataFrame  # one row per item left out: source, file, row, reason


def _source_frame(
    name: str, source: Source, raw_dir: Path, usage_map: dict[str, str], left: LeftOut
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Read one source, map labels and splits, and count what was left out."""
    read_cfg = source.read
    records = read_source(raw_dir / name, read_cfg)
    for skip in records.skipped:
        left.leave(name, skip.file, skip.row, skip.reason)
    role, label_map = read_cfg.role, read_cfg.label_map
    keep, indices, splits = [], [], []
    for i, raw_label in enumerate(records.labels):
        try:
            index = canonical_index(raw_label, label_map)
        except UnknownLabelError as exc:
            if read_cfg.on_error == "fail":
                raise SourceError(f"{raw_dir / name / records.files[i]}: row {records.rows[i]}: {exc}") from exc
            left.leave(name, records.files[i], records.rows[i], f"unknown label {raw_label!r}")
            continue
        if index is None:
            left.leave(name, records.files[i], records.rows[i], f"label {raw_label!r} is not one of the 7 classes")
            continue
        if role == "primary":
            # no Usage at all (JAFFE, KDEF as primary): training, until test/val_fraction carve it
            split = usage_map.get(records.usages[i]) if records.usages[i] else "train"
            if split is None:
                reason = f"usage {records.usages[i]!r} is not mapped to a split (prepare.usage_map)"
                left.leave(name, records.files[i], records.rows[i], reason)
                continue
        elif role == "test_only":
            split = CROSS  # a cross-dataset test set: every image, whatever its own split
        else:
            split = "train"  # extra data never reaches validation or test
        keep.append(i)
        indices.append(index)
        splits.append(split)
    frame = pd.DataFrame(
        {
            "source": name,
            "role": role,
            "file": [records.files[i] for i in keep],
            "row": [records.rows[i] for i in keep],
            "subject": [records.subjects[i] for i in keep],
            "label": np.array(indices, dtype=np.int64),
            "split": splits,
        }
    )
    if records.targets is not None:
        frame = _with_targets(frame, records, keep, read_cfg.votes_scheme)
    return frame, [records.images[i] for i in keep]


def _with_targets(frame: pd.DataFrame, records: Records, keep: list[int], scheme: str) -> pd.DataFrame:
    """A source's training targets as ``target_columns`` and, in ``held_out_label``, the majority
    label (-1: none) each row takes if it is carved into validation or test."""
    held = [canonical_index(records.majority[i]) for i in keep]
    targets = pd.DataFrame(records.targets[keep], columns=target_columns(scheme), index=frame.index)
    return pd.concat([frame.assign(held_out_label=[-1 if h is None else h for h in held]), targets], axis=1)


def _one_target_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """Where a source has training targets, every row gets them: the one-hot of its label, and its
    own label as the held-out one, for the rows of sources without; one kind of target at most."""
    kinds = sorted({kind for kind in map(target_kind, frame.columns) if kind})
    if len(kinds) > 1:
        raise ValueError(f"params: sources with the votes schemes {kinds}; one pipeline trains on one kind of target")
    if not kinds:
        return frame
    columns = target_columns(kinds[0])
    without = frame[columns[0]].isna().to_numpy()
    frame.loc[without, columns] = np.eye(len(CLASSES), dtype=np.float32)[frame.loc[without, "label"]]
    frame["held_out_label"] = frame["held_out_label"].fillna(frame["label"]).astype(np.int64)
    return frame


def _carve(frame: pd.DataFrame, fraction: float, seed: int, to_split: str) -> pd.DataFrame:
    """Move a share of the primary sources' training rows to ``to_split``.

    Where every row knows its subject (CK+, JAFFE, KDEF), whole subjects move, so one person's
    frames never sit on both sides; otherwise the share is stratified by class.
    """
    pool = frame.index[(frame["split"] == "train") & (frame["role"] == "primary")]
    if fraction <= 0 or len(pool) == 0:
        return frame
    subjects = frame.loc[pool, "subject"]
    if (subjects != "").all():
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        _, picked = next(splitter.split(pool, groups=subjects))
        chosen = pool[picked]
    else:
        _, chosen = train_test_split(pool, test_size=fraction, random_state=seed, stratify=frame.loc[pool, "label"])
    frame.loc[chosen, "split"] = to_split
    return frame


def _resolve_duplicates(frame: pd.DataFrame) -> pd.Series:
    """A reason to drop each row, or "" to keep it: one copy per image within each split.

    Copies that disagree on the label are all dropped; agreeing copies keep the first. Copies
    across splits are the leakage audit's business (the next stage), which keeps the
    evaluation side and applies the audit policy.
    """
    reasons = pd.Series("", index=frame.index, dtype=object)
    for _, group in frame.groupby(["sha1", "split"], sort=False):
        if len(group) < 2:
            continue
        if group["label"].nunique() > 1:
            reasons[group.index] = "exact duplicates with conflicting labels"
        else:
            reasons[group.index[1:]] = "exact duplicate"
    return reasons


def _subsampled_out(frame: pd.DataFrame, fraction: float, seed: int) -> list[int]:
    """Rows a quick run leaves out: all but ``fraction`` of each split's images of each class."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for _, group in frame.groupby(["split", "label"]):
        out.extend(rng.permutation(group.index.to_numpy())[max(1, round(len(group) * fraction)) :])
    return out


def _counts(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts per source, split and class name."""
    out: dict[str, Any] = {}
    for (source, split), group in frame.groupby(["source", "split"]):
        by_class = Counter(CLASSES[i] for i in group["label"])
        out.setdefault(source, {})[split] = {name: by_class.get(name, 0) for name in CLASSES}
    return out


def prepare(sources: Mapping[str, Source], raw_dir: Path, cfg: Prepare) -> Prepared:
    """Read, label, split, clean and merge every configured source (the schema has checked the
    sources are there, the splits named and the fractions in range)."""
    usage_map, fraction = cfg.usage_map, cfg.subsample  # below 1: a quick run on a share of every split
    left = LeftOut()
    frames, images = [], []
    for name, source in sources.items():
        frame, imgs = _source_frame(name, source, raw_dir, usage_map, left)
        if frame.empty:
            raise SourceError(f"{raw_dir / name}: no usable images in source {name!r}")
        frames.append(frame)
        images.extend(imgs)
    frame = _one_target_kind(pd.concat(frames, ignore_index=True))
    stack = np.stack(images).astype(np.uint8)
    frame["sha1"] = [hashlib.sha1(img.tobytes()).hexdigest() for img in stack]

    reasons = pd.Series("", index=frame.index, dtype=object)
    blank = np.ptp(stack.reshape(len(stack), -1), axis=1) <= cfg.blank_max_range
    reasons[blank] = "blank image"
    frame = _carve(frame, cfg.test_fraction, cfg.seed, "test")
    frame = _carve(frame, cfg.val_fraction, cfg.seed, "val")
    if "held_out_label" in frame:  # carved rows are scored on the majority, like every held-out row
        held = frame["split"] != "train"
        frame.loc[held, "label"] = frame.loc[held, "held_out_label"]
        reasons[held & (frame["label"] == -1)] = "no majority label for a held-out row"
        frame = frame.drop(columns="held_out_label")
    kept_so_far = reasons == ""
    reasons[kept_so_far] = _resolve_duplicates(frame[kept_so_far])
    if fraction < 1:
        reasons[_subsampled_out(frame[reasons == ""], fraction, cfg.seed)] = f"left out by prepare.subsample={fraction}"
    dropped = frame[reasons != ""]
    for source, file, row, reason in zip(
        dropped["source"], dropped["file"], dropped["row"], reasons[reasons != ""], strict=True
    ):
        left.leave(source, file, int(row), reason)

    keep = (reasons == "").to_numpy()
    manifest = frame[keep].reset_index(drop=True)
    manifest.insert(0, "index", np.arange(len(manifest)))
    manifest["label_name"] = [CLASSES[i] for i in manifest["label"]]
    missing = [s for s in SPLITS if s not in set(manifest["split"])]
    if missing:
        raise SourceError(f"params: no images left in split(s) {missing}; check prepare.usage_map and val_fraction")
    train_labels = set(manifest.loc[manifest["split"] == "train", "label"])
    empty_classes = [name for i, name in enumerate(CLASSES) if i not in train_labels]
    splits = [*SPLITS, *([CROSS] if (manifest["split"] == CROSS).any() else [])]
    report = {
        "total": len(manifest),
        "splits": {s: int((manifest["split"] == s).sum()) for s in splits},
        "counts": _counts(manifest),
        "dropped": {f"{source}: {reason}": n for (source, reason), n in sorted(left.counts.items())},
        "bad_items": len(left.items),
        "empty_train_classes": empty_classes,
    }
    return Prepared(stack[keep], manifest, report, left.frame())


def prepare_headline(report: dict[str, Any]) -> dict[str, int]:
    """The data stage's DVC metrics: images per split (why images were dropped stays in details/)."""
    return {f"n_{split}": int(report["splits"][split]) for split in SPLITS}
