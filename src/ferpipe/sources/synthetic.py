"""The built-in data: synthetic faces written in the real on-disk formats ferpipe reads.

Three layouts mirror the sources of the published reports, so the readers are exercised on
built-in data exactly as on the real files:

- ``fer2013_csv``: ``emotion,pixels,Usage`` rows (Training / PublicTest / PrivateTest), dirtied
  like the real file with blank images and exact duplicates;
- ``ckplus``: 48x48 grey PNGs in CK+'s class folders (``anger``, ``contempt``, ...), named
  ``S<subject>_<sequence>_<frame>.png`` with three near-identical frames per sequence;
- ``image_folder``: larger RGB JPEGs in class folders, with contempt, like Google FER;
- ``rafdb``: RAF-DB's basic set, ``EmoLabel/list_patition_label.txt`` (codes 1-7, ``train_`` /
  ``test_`` names) and ``Image/aligned/<name>_aligned.jpg`` colour faces;
- ``affectnet``: AffectNet's ``training.csv`` / ``validation.csv`` (codes 0-10, contempt, none,
  uncertain and no-face included) with each face at its box in a bigger picture.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from ferpipe.named import Registry
from ferpipe.readers.ferplus import EMOTIONS as FERPLUS_EMOTIONS
from ferpipe.sources.faces import EXPRESSIONS, RenderOptions, render_faces, sample_identities

if TYPE_CHECKING:
    from ferpipe.schema import SyntheticFetch

# FER2013's class balance (Training counts), with disgust rare; contempt is absent there.
FER2013_SHARES = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "sad": 4830,
    "surprise": 3171,
    "neutral": 4965,
}
# CK+48's folders and their sizes; it has no neutral class.
WRITERS: Registry = Registry("synthetic layout")  # named as the readers spell the same layouts

CKPLUS_SHARES = {"anger": 135, "contempt": 54, "disgust": 177, "fear": 75, "happy": 207, "sadness": 84, "surprise": 249}
CKPLUS_TO_EXPRESSION = {"anger": "angry", "sadness": "sad"}
# Google-FER-like folders, contempt included.
IMAGEFOLDER_SHARES = {
    "angry": 10,
    "contempt": 3,
    "disgust": 4,
    "fear": 9,
    "happy": 18,
    "neutral": 14,
    "sad": 12,
    "surprise": 10,
}


def _draw_classes(rng: np.random.Generator, shares: Mapping[str, int], n: int) -> np.ndarray:
    """Class names for ``n`` samples, in proportion to ``shares`` (rounded, then shuffled)."""
    names = list(shares)
    weights = np.array([shares[k] for k in names], dtype=float)
    counts = np.floor(weights / weights.sum() * n).astype(int)
    counts[np.argsort(-weights)[: n - counts.sum()]] += 1
    labels = np.repeat(np.array(names), counts)
    rng.shuffle(labels)
    return labels


def _expression_index(name: str) -> int:
    return EXPRESSIONS.index(CKPLUS_TO_EXPRESSION.get(name, name))


def _noisy_labels(rng: np.random.Generator, labels: np.ndarray, rate: float, choices: list[str]) -> np.ndarray:
    """Flip a share of labels at random, as annotators do; keeps any model below 100%."""
    flip = rng.uniform(size=len(labels)) < rate
    noisy = labels.copy()
    noisy[flip] = rng.choice(choices, flip.sum())
    return noisy


@WRITERS.register("fer2013_csv")
def write_fer2013_csv(dest: Path, cfg: SyntheticFetch, options: RenderOptions) -> int:
    """Write ``fer2013.csv`` with the configured rows per Usage; returns the row count."""
    rng = np.random.default_rng(cfg.seed)
    rows: list[tuple[int, np.ndarray, str]] = []
    truth: list[str] = []  # the expression drawn: what FER+'s annotators mostly see
    for usage, n in cfg.counts.items():
        names = _draw_classes(rng, FER2013_SHARES, int(n))
        images = render_faces(rng, np.array([_expression_index(k) for k in names]), options)
        noisy = _noisy_labels(rng, names, cfg.label_noise or 0.0, list(FER2013_SHARES))
        rows += [(list(FER2013_SHARES).index(k), img, usage) for k, img in zip(noisy, images, strict=True)]
        truth += list(names)
    # dirty it like the real file: blank frames, exact copies within Training, and held-out
    # images that also sit in Training (the leak the audit stage must catch)
    training = [i for i, r in enumerate(rows) if r[2] == "Training"]
    held_out = [i for i, r in enumerate(rows) if r[2] != "Training"]
    for i in rng.choice(training, min(cfg.blank or 0, len(training)), replace=False):
        rows[i] = (rows[i][0], np.zeros_like(rows[i][1]), rows[i][2])
        truth[i] = ""  # not a face
    for i in rng.choice(training, min(cfg.duplicates or 0, len(training)), replace=False):
        rows.append(rows[i])
        truth.append(truth[i])
    for i in rng.choice(held_out, min(cfg.test_copies or 0, len(held_out)), replace=False):
        rows.append((rows[i][0], rows[i][1], "Training"))
        truth.append(truth[i])
    with open(dest / "fer2013.csv", "w", newline="", encoding="ascii") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        for label, img, usage in tqdm(rows, desc="fer2013.csv", unit="row", leave=False, disable=None):
            writer.writerow([label, " ".join(map(str, img.ravel().tolist())), usage])
    if cfg.votes:
        write_ferplus_votes(dest, rng, [usage for _, _, usage in rows], truth)
    return len(rows)


# how our class names spell in FER+'s columns
FERPLUS_NAMES = {"happy": "happiness", "sad": "sadness", "angry": "anger"}


def write_ferplus_votes(dest: Path, rng: np.random.Generator, usages: list[str], truth: list[str]) -> None:
    """``fer2013new.csv``: 10 annotators per row of ``fer2013.csv``, most voting for the drawn
    expression and the rest spread over the others (an ambiguous face gets no majority); a blank
    frame has no image name and all votes on NF, as in the real file."""
    with open(dest / "fer2013new.csv", "w", newline="", encoding="ascii") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Usage", "Image name", *FERPLUS_EMOTIONS])
        for row, (usage, expression) in enumerate(zip(usages, truth, strict=True)):
            if not expression:
                writer.writerow([usage, "", *([0] * 9), 10])
                continue
            agreement = rng.uniform(0.35, 0.95)  # how clear the face is
            p = np.full(len(FERPLUS_EMOTIONS), (1 - agreement) / (len(FERPLUS_EMOTIONS) - 1))
            p[FERPLUS_EMOTIONS.index(FERPLUS_NAMES.get(expression, expression))] = agreement
            writer.writerow([usage, f"fer{row:07d}.png", *rng.multinomial(10, p).tolist()])


@WRITERS.register("ckplus")
def write_ckplus(dest: Path, cfg: SyntheticFetch, options: RenderOptions) -> int:
    """Write CK+-style sequences: three frames of rising intensity per (subject, sequence)."""
    rng = np.random.default_rng(cfg.seed)
    n_sequences = cfg.sequences
    folders = _draw_classes(rng, CKPLUS_SHARES, n_sequences)
    n_subjects = max(1, cfg.subjects or n_sequences // 3)
    subjects = rng.integers(0, n_subjects, n_sequences)
    people = sample_identities(rng, n_subjects)
    frames = 3
    identities = {k: np.repeat(v[subjects], frames, axis=0) for k, v in people.items()}
    expressions = np.repeat([_expression_index(k) for k in folders], frames)
    intensity = np.tile(np.linspace(0.8, 1.0, frames), n_sequences)
    images = render_faces(rng, expressions, options, identities=identities, intensity=intensity)
    for folder in CKPLUS_SHARES:
        (dest / "CK+48" / folder).mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(tqdm(images, desc="ckplus", unit="img", leave=False, disable=None)):
        seq = i // frames
        name = f"S{subjects[seq] + 1:03d}_{seq + 1:03d}_{i % frames + 1:08d}.png"
        Image.fromarray(img).save(dest / "CK+48" / folders[seq] / name)
    return len(images)


@WRITERS.register("image_folder")
def write_image_folder(dest: Path, cfg: SyntheticFetch, options: RenderOptions) -> int:
    """Write RGB JPEGs into class folders (contempt included)."""
    rng = np.random.default_rng(cfg.seed)
    names = _draw_classes(rng, IMAGEFOLDER_SHARES, cfg.count)
    images = render_faces(rng, np.array([_expression_index(k) for k in names]), options)
    for folder in IMAGEFOLDER_SHARES:
        (dest / folder).mkdir(parents=True, exist_ok=True)
    pairs = list(zip(names, images, strict=True))
    for i, (name, img) in enumerate(tqdm(pairs, desc="image_folder", leave=False, disable=None)):
        Image.fromarray(img).save(dest / name / f"{name}_{i:05d}.jpg", quality=90)
    return len(images)


# RAF-DB basic's training counts per code 1-7 (surprise ... neutral)
RAFDB_SHARES = {1: 1290, 2: 281, 3: 717, 4: 4772, 5: 1982, 6: 705, 7: 2524}
RAFDB_TO_EXPRESSION = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}
# AffectNet's manually annotated training counts per code 0-10 (neutral ... no-face)
AFFECTNET_SHARES = {0: 74874, 1: 134415, 2: 25459, 3: 14090, 4: 6378, 5: 3803, 6: 24882, 7: 3750, 8: 33088,
                    9: 11645, 10: 82414}  # fmt: skip
AFFECTNET_TO_EXPRESSION = {
    0: "neutral",
    1: "happy",
    2: "sad",
    3: "surprise",
    4: "fear",
    5: "disgust",
    6: "angry",
    7: "contempt",
    8: "neutral",
    9: "neutral",
}  # fmt: skip  (10, no-face: no face drawn)


@WRITERS.register("rafdb")
def write_rafdb(dest: Path, cfg: SyntheticFetch, options: RenderOptions) -> int:
    """Write RAF-DB's label file and aligned colour faces, ``counts`` per split (``train``, ``test``)."""
    rng = np.random.default_rng(cfg.seed)
    lines, aligned = [], dest / "basic" / "Image" / "aligned"
    aligned.mkdir(parents=True, exist_ok=True)
    for usage, n in cfg.counts.items():
        codes = _draw_classes(rng, RAFDB_SHARES, int(n)).astype(int)
        images = render_faces(rng, np.array([_expression_index(RAFDB_TO_EXPRESSION[c]) for c in codes]), options)
        noisy = _noisy_labels(rng, codes, cfg.label_noise or 0.0, list(RAFDB_SHARES))
        for i, (code, image) in enumerate(zip(noisy, images, strict=True), start=1):
            Image.fromarray(image).save(aligned / f"{usage}_{i:05d}_aligned.jpg", quality=90)
            lines.append(f"{usage}_{i:05d}.jpg {code}")
    (dest / "basic" / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (dest / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return len(lines)


@WRITERS.register("affectnet")
def write_affectnet(dest: Path, cfg: SyntheticFetch, options: RenderOptions) -> int:
    """Write AffectNet's two CSVs and pictures twice the face's size with the face at a random box
    (its ``face_*`` columns); ``counts`` per file (``training``, ``validation``)."""
    rng = np.random.default_rng(cfg.seed)
    side = options.size
    folder = dest / "Manually_Annotated_Images"
    total = 0
    for usage, n in cfg.counts.items():
        codes = _draw_classes(rng, AFFECTNET_SHARES, int(n)).astype(int)
        drawn = np.array([_expression_index(AFFECTNET_TO_EXPRESSION.get(c, "neutral")) for c in codes])
        faces = render_faces(rng, drawn, options)
        rows = []
        for i, (code, face) in enumerate(zip(codes, faces, strict=True)):
            picture = rng.integers(60, 200, (2 * side, 2 * side, 3), dtype=np.uint8)
            x, y = (int(v) for v in rng.integers(0, side, 2))
            if code != 10:  # no-face: the picture has none
                picture[y : y + side, x : x + side] = face
            relative = f"{i % 7 + 1}/{usage}_{i:05d}.jpg"
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(picture).save(folder / relative, quality=90)
            valence, arousal = (round(float(v), 3) for v in rng.uniform(-1, 1, 2))
            rows.append([relative, x, y, side, side, "", int(code), valence, arousal])
        with open(dest / f"{usage}.csv", "w", newline="", encoding="ascii") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
                             "facial_landmarks", "expression", "valence", "arousal"])  # fmt: skip
            writer.writerows(rows)
        total += len(rows)
    return total


RGB_LAYOUTS = ("image_folder", "rafdb", "affectnet")  # colour pictures, as the real sets ship them


def materialise_synthetic(dest: Path, cfg: SyntheticFetch) -> int:
    """Generate one synthetic source into ``dest`` following ``cfg.layout`` (one the schema allows)."""
    options = RenderOptions(size=cfg.size or 48, rgb=cfg.layout in RGB_LAYOUTS)
    return WRITERS[cfg.layout](dest, cfg, options)
