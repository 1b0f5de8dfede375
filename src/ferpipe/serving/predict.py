"""``ferpipe predict``: expressions of the faces in real photos.

Each image (any size, colour or grey) is searched for faces with the Haar cascade; every face
is cropped, turned grey and resized to 48x48, then classified by one trained model or an
ensemble. An image without a face, or one that cannot be read, gets a row that says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferpipe.config import Paths
from ferpipe.detect import Box, find_faces
from ferpipe.evaluate.calibration import temperature_of
from ferpipe.images import open_picture
from ferpipe.io import atomic_path, read_json
from ferpipe.labels import CLASSES
from ferpipe.readers.base import to_8bit
from ferpipe.serving.classifier import SIDE, FerClassifier
from ferpipe.serving.model_card import SYNTHETIC_WARNING, synthetic_only

if TYPE_CHECKING:
    from ferpipe.schema import Params

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
OUT_SUFFIXES = (".csv", ".json")
NO_FACE = "no face"
UNREADABLE = "unreadable"
GREEN = (0, 200, 0)  # BGR


@dataclass(frozen=True)
class FaceResult:
    """One row of the answer: a face (with its box and probabilities), or why there is none."""

    file: str
    face: int
    label: str
    box: Box | None = None
    probs: tuple[float, ...] = ()
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"file": self.file, "face": self.face, "label": self.label}
        row.update(dict(zip(("x", "y", "w", "h"), self.box or (None,) * 4, strict=True)))
        probs = [round(p, 6) for p in self.probs] if self.probs else [None] * len(CLASSES)
        row.update(zip(CLASSES, probs, strict=True))
        row["error"] = self.error
        return row


def image_files(paths: Iterable[Path], suffixes: set[str] = IMAGE_SUFFIXES) -> Iterator[Path]:
    """The given files, and the files with one of ``suffixes`` found under the given folders (sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")


@dataclass(frozen=True)
class Answerer:
    """The classifier that answers, who it is (for the table's title), and what to warn about."""

    classifier: FerClassifier
    answered_by: str
    warning: str = ""


def load_classifier(paths: Paths, params: Params, model: str | None, method: str | None) -> Answerer:
    """One trained model (``model``), an ensemble ``method`` of the ensemble members, or by default the
    registry's ``@champion`` (what ``mlflow models serve`` answers with)."""
    tta = params.evaluate.tta  # the views evaluate scored the models with
    warning = SYNTHETIC_WARNING if synthetic_only(params) else ""
    if model is not None:
        files = {model: trained_model_file(paths, model)}
        temperature = temperature_of(read_json(paths.detail(model)))
        classifier = FerClassifier.load(files, "average", None, tta, temperature)
        return Answerer(classifier, f"model {model} (workspace)", warning)
    if method is None:
        return load_champion(paths, params.mlflow.registered_model)
    summary = read_json(paths.detail("ensemble"))
    members = list(summary.get("members") or params.ensemble.members)
    weights = [summary["weights"][m] for m in members] if method == "weighted" else None
    files = {m: trained_model_file(paths, m) for m in members}
    classifier = FerClassifier.load(files, str(method), weights, tta, temperature_of(summary.get(str(method), {})))
    return Answerer(classifier, f"ensemble ({method}) of {', '.join(members)} (workspace)", warning)


def load_champion(paths: Paths, name: str) -> Answerer:
    """The registered model ``name``'s ``@champion`` version, loaded the way the model server loads it,
    with the warning its model card carries."""
    import mlflow

    from ferpipe import tracking
    from ferpipe.tracking import registry

    uri = tracking.connect(paths.home)
    version = registry.aliased(mlflow.MlflowClient(), name, registry.CHAMPION)
    if version is None:
        raise ValueError(f"no models:/{name}@champion in {uri} yet: run `dvc repro`, or pass --model or --ensemble")
    served = _load_registered(f"models:/{name}/{version.version}")
    warning = (served.identity or {}).get("warning", "")
    return Answerer(served.classifier, f"models:/{name}@champion (version {version.version})", warning)


def _load_registered(uri: str) -> Any:
    """The pyfunc behind a registered version; one registered by an earlier ferpipe as a pickled
    object whose code has moved since is a clear error saying how to register it again."""
    import mlflow

    try:
        return mlflow.pyfunc.load_model(uri).unwrap_python_model()
    except (ModuleNotFoundError, AttributeError) as exc:  # unpickling code that is no longer where it was
        raise ValueError(
            f"{uri} was registered by an earlier ferpipe as a pickled classifier that this version cannot "
            f"load ({exc}); register it again as a model from code: `dvc repro --force ensemble`, then "
            "`ferpipe promote NEW_VERSION` (or serve that version with `mlflow models serve`, which loads "
            "the code stored with it)"
        ) from None


def trained_model_file(paths: Paths, name: str) -> Path:
    """The weights of the workspace's trained model ``name`` (a member or a student); a clear error if none."""
    trained = paths.trained_models()
    if name not in trained:
        have = ", ".join(trained) or "none"
        raise FileNotFoundError(f"{paths.models / name}: no trained model {name!r}; run `dvc repro` (models: {have})")
    return trained[name]


def read_picture(path: Path) -> np.ndarray:
    """Any picture as RGB uint8 (h, w, 3), upright by its EXIF orientation: grey, palette, 16-bit and
    alpha images included; one over ``FERPIPE_MAX_IMAGE_PIXELS`` is refused before decoding."""
    return np.asarray(to_8bit(open_picture(path)).convert("RGB"))


def faces_in(picture: np.ndarray) -> tuple[list[Box], np.ndarray]:
    """The faces the cascade finds in an RGB picture: their boxes, and each cut out grey at 48x48."""
    import cv2

    grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    boxes = find_faces(grey, min_size=max(24, min(grey.shape) // 20))
    crops = [grey[b.y : b.y + b.h, b.x : b.x + b.w] for b in boxes]
    crops = [cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA) for crop in crops]
    return boxes, np.stack(crops) if crops else np.zeros((0, SIDE, SIDE), dtype=np.uint8)


def predict_files(files: Iterable[Path], classifier: FerClassifier) -> Iterator[tuple[FaceResult, np.ndarray | None]]:
    """Rows for every face of every file, each with the picture it came from (for annotation).

    A file that cannot be read (not an image, truncated, over the pixel limit)
    gets an ``unreadable`` row with the reason; the rest of the batch carries on.
    """
    for path in files:
        try:
            picture = read_picture(path)
        except (OSError, ValueError) as exc:
            yield FaceResult(str(path), -1, UNREADABLE, error=f"{type(exc).__name__}: {exc}"), None
            continue
        boxes, faces = faces_in(picture)
        if not boxes:
            yield FaceResult(str(path), -1, NO_FACE), picture
            continue
        for i, (box, probs) in enumerate(zip(boxes, classifier.predict_proba(faces), strict=True)):
            label = CLASSES[int(np.argmax(probs))]
            yield FaceResult(str(path), i, label, box, tuple(float(p) for p in probs)), picture


def draw_face(canvas: np.ndarray, box: Box, text: str) -> None:
    """A face's box and its label drawn on a BGR picture (a photo or a video frame), sized to it."""
    import cv2

    scale = max(0.4, min(canvas.shape[:2]) / 600)
    thickness = max(1, round(2 * scale))
    x, y, w, h = box
    cv2.rectangle(canvas, (x, y), (x + w, y + h), GREEN, thickness)
    cv2.putText(canvas, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, scale, GREEN, thickness)


def annotate(picture: np.ndarray, results: list[FaceResult], target: Path) -> None:
    """A copy of the picture with each face's box and label drawn on, written atomically as PNG."""
    import cv2

    canvas = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    for result in results:
        if result.box is not None:
            draw_face(canvas, result.box, f"{result.label} {max(result.probs):.2f}")
    write_png(target, canvas)


def write_png(target: Path, canvas: np.ndarray) -> None:
    """A BGR picture written atomically as PNG (its folder made if missing): predict's and explain's copies."""
    import cv2

    ok, encoded = cv2.imencode(".png", canvas)
    if not ok:
        raise ValueError(f"{target}: could not encode the picture as PNG")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(encoded.tobytes())


def results_table(rows: list[dict[str, Any]], n_images: int, answered_by: str) -> str:
    """The terminal table of a prediction: a row a face (or a file without one), its label and probability."""
    from ferpipe.tables import render

    shown = [
        (r["file"], str(r["face"]), r["label"], "-" if r["angry"] is None else f"{max(r[c] for c in CLASSES):.3f}")
        for r in rows
    ]
    columns = [("file", "left"), ("face", "right"), ("label", "left"), ("probability", "right")]
    title = f"{n_images} images, {sum(r['face'] >= 0 for r in rows)} faces; answered by {answered_by}"
    return render(title, columns, shown)


def check_output(out: Path) -> None:
    """Refuse an output path before any work is done, not after every prediction."""
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise ValueError(f"{out}: --out must end in {' or '.join(OUT_SUFFIXES)}")
    if out.exists() and out.is_dir():
        raise ValueError(f"{out}: --out is a folder; give a file name ending in {' or '.join(OUT_SUFFIXES)}")


def write_results(rows: list[dict[str, Any]], out: Path) -> None:
    """The rows as CSV or JSON (by the suffix), written atomically."""
    import pandas as pd

    check_output(out)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            pd.DataFrame(rows).convert_dtypes().to_csv(tmp, index=False)  # ids stay integers beside blanks
        else:
            tmp.write_text(json.dumps(rows, indent=2))
