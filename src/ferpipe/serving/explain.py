"""``ferpipe explain``: where a trained model looks on the faces of real photos. Each face is found and
classified as ``ferpipe predict`` does; its Grad-CAM map for the class the model chose is drawn over
it in a copy of the photo (:mod:`ferpipe.evaluate.saliency` picks the layer)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ferpipe.config import Paths
from ferpipe.evaluate.metrics import softmax
from ferpipe.evaluate.saliency import Explainer, explainer, grad_cam, overlay
from ferpipe.io import read_json
from ferpipe.labels import CLASSES
from ferpipe.models.inference import predict_logits
from ferpipe.models.saved import load_model
from ferpipe.serving.predict import (
    NO_FACE,
    UNREADABLE,
    FaceResult,
    draw_face,
    faces_in,
    read_picture,
    trained_model_file,
    write_png,
)


def chosen_model(paths: Paths, model: str | None) -> tuple[str, Path]:
    """``model``'s weights, or by default the convolutional model with the best validation accuracy."""
    if model is not None:
        return model, trained_model_file(paths, model)
    trained = paths.trained_models()
    scored = {m: read_json(paths.detail(m)) for m in trained if paths.detail(m).exists()}
    convolutional = {m: d["val"]["accuracy"] for m, d in scored.items() if "layer" in d.get("saliency", {})}
    if not convolutional:
        raise ValueError("no scored convolutional model in this workspace: run `dvc repro`, or pass --model")
    best = max(convolutional, key=convolutional.__getitem__)
    return best, trained[best]


def loaded(name: str, model_file: Path, tta: str) -> tuple[Any, Explainer]:
    """The model as predict scores it (with its test-time views) and its Grad-CAM set-up."""
    found = explainer(load_model(model_file))
    if found is None:
        raise ValueError(f"{name} has no convolutional layer over the face, so no Grad-CAM map: pass --model")
    return load_model(model_file, tta), found


def explain_files(files: Iterable[Path], model: Any, found: Explainer, out: Path) -> list[dict[str, Any]]:
    """A row per face (or per file without one) and, for each photo with faces, a copy with every face
    under its map and labelled, written to ``out`` (numbered, so equal names in two folders do not clash)."""
    import cv2

    rows: list[dict[str, Any]] = []
    for i, path in enumerate(files):
        try:
            picture = read_picture(path)
        except (OSError, ValueError) as exc:
            rows.append(FaceResult(str(path), -1, UNREADABLE, error=f"{type(exc).__name__}: {exc}").as_dict())
            continue
        boxes, faces = faces_in(picture)
        if not boxes:
            rows.append(FaceResult(str(path), -1, NO_FACE).as_dict())
            continue
        probs = softmax(predict_logits(model, faces))
        chosen = probs.argmax(axis=1)
        maps = grad_cam(found, faces, chosen)
        canvas = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
        target = out / f"{i:04d}_{path.stem}.png"
        for k, (box, heat) in enumerate(zip(boxes, maps, strict=True)):
            grey = cv2.cvtColor(canvas[box.y : box.y + box.h, box.x : box.x + box.w], cv2.COLOR_BGR2GRAY)
            stretched = cv2.resize(heat, (box.w, box.h), interpolation=cv2.INTER_LINEAR)
            canvas[box.y : box.y + box.h, box.x : box.x + box.w] = overlay(grey, stretched)[..., ::-1]
            label = CLASSES[int(chosen[k])]
            draw_face(canvas, box, f"{label} {probs[k].max():.2f}")
            found_face = FaceResult(str(path), k, label, box, tuple(float(p) for p in probs[k]))
            rows.append(found_face.as_dict() | {"picture": str(target)})
        write_png(target, canvas)
    return rows
