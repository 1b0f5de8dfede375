"""``ferpipe compare A B``: two models, ensemble methods or students, paired on the same faces.

Each side is ``NAME`` (this workspace) or ``NAME@REV`` (a git revision or a DVC experiment, read
through DVC, which fetches the predictions from its cache or a remote). A side's predictions are
its saved probabilities (a model's ``data/predictions/<name>``, a student's
``data/distilled/<name>/predictions``) or, for ``ensemble_<method>``, its members' combined as the
ensemble stage combined them. The faces must be the same on both sides: the split's manifest is
read at each side's revision and the images compared by their hashes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferpipe.config import Paths
from ferpipe.data.dataset import IMAGES, MANIFEST
from ferpipe.evaluate import ensemble as ens
from ferpipe.evaluate.uncertainty import Comparison, compare

ENSEMBLE_PREFIX = "ensemble_"


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its name as given, labels, predicted classes and face hashes."""

    label: str
    labels: np.ndarray
    predicted: np.ndarray
    faces: list[str]


def reader_at(root: Path, rev: str | None) -> Callable[[str], bytes]:
    """Bytes of a repo-relative file in the workspace, or at ``rev`` through DVC (git or its cache)."""
    if rev is None:
        return lambda relative: (root / relative).read_bytes()
    opened: list[Any] = []  # one DVC filesystem per revision, opened on the first read

    def read(relative: str) -> bytes:
        from dvc.api import DVCFileSystem

        try:
            if not opened:
                opened.append(DVCFileSystem(str(root), rev=rev))
            return opened[0].read_bytes(relative)
        except Exception as exc:  # DVC raises many types: unknown rev, missing from cache and remote, ...
            first = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"DVC cannot fetch {relative} at {rev!r}: {first} (not in this DVC cache or a remote? "
                f"`dvc pull` it, or `dvc repro` that revision)"
            ) from None

    return read


def _probabilities(read: Callable[[str], bytes], paths: Paths, name: str, split: str, have: str) -> np.ndarray:
    """A model's or student's saved probabilities, or an ensemble method's, recombined."""
    relative = lambda path: path.relative_to(paths.root).as_posix()  # noqa: E731 - one expression, used thrice
    if name.startswith(ENSEMBLE_PREFIX):
        method = name.removeprefix(ENSEMBLE_PREFIX)
        if method not in ens.METHODS:
            raise ValueError(
                f"{name!r}: no such ensemble method; have {', '.join(ENSEMBLE_PREFIX + m for m in ens.METHODS)}"
            )
        summary = json.loads(read(relative(paths.detail("ensemble"))))
        members = summary["members"]
        probs = [np.load(io.BytesIO(read(relative(paths.probabilities(m, split))))) for m in members]
        return ens.combine(method, probs, ens.fitted_weights(summary, method))
    for folder in (paths.predictions / name, paths.distilled / name / "predictions"):
        try:
            return np.load(io.BytesIO(read(relative(folder / f"{split}.npy"))))
        except (FileNotFoundError, ValueError) as exc:
            if "DVC cannot fetch" in str(exc) and "does not exist" not in str(exc).lower():
                raise
    raise ValueError(f"{name!r}: no model, student or ensemble method of that name ({have})")


def load_side(root: Path, spec: str, split: str) -> Side:
    """``NAME`` or ``NAME@REV`` scored on ``split``."""
    name, _, rev = spec.partition("@")
    if not name:
        raise ValueError(f"{spec!r}: expected NAME or NAME@REV (a git revision or DVC experiment)")
    paths = Paths(root)
    read = reader_at(root, rev or None)
    have = "this workspace has " + ", ".join(sorted(p.parent.name for p in paths.predictions.glob(f"*/{split}.npy")))
    probs = _probabilities(read, paths, name, split, have)
    balanced = paths.balanced.relative_to(root).as_posix()
    manifest = pd.read_csv(io.BytesIO(read(f"{balanced}/{MANIFEST}")), keep_default_na=False)
    rows = (manifest["split"] == split).to_numpy()
    if rows.sum() != len(probs):
        raise ValueError(f"{spec}: {len(probs)} predictions for {rows.sum()} {split} faces: stale predictions?")
    images = np.load(io.BytesIO(read(f"{balanced}/{IMAGES}")))[rows]
    faces = [hashlib.sha1(image.tobytes()).hexdigest() for image in images]
    return Side(spec, manifest.loc[rows, "label"].to_numpy(np.int64), probs.argmax(axis=1), faces)


def paired_sides(a: Side, b: Side) -> Comparison:
    """B against A; refused when the two were scored on different faces."""
    check_same_faces(a, b)
    return compare(a.labels, a.predicted, b.predicted, (a.label, b.label))


def check_same_faces(a: Side, b: Side) -> None:
    """A paired test needs both sides scored on the same faces, in the same order."""
    if a.faces != b.faces:
        differing = sum(x != y for x, y in zip(a.faces, b.faces, strict=False)) + abs(len(a.faces) - len(b.faces))
        raise ValueError(
            f"{a.label} and {b.label} were scored on different faces ({len(a.faces)} and {len(b.faces)} faces, "
            f"{differing} differ): a paired test needs the same ones"
        )
