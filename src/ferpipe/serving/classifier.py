"""A deployable classifier: one trained model or an ensemble, as an MLflow pyfunc.

The champion of a pipeline (the best model or ensemble on validation) is logged in this
form and registered with the alias ``champion``, so ``mlflow models serve -m
models:/<name>@champion`` answers with labels and the 7 probabilities. A single model is an
ensemble of one. It is logged as a model from code (``pyfunc_model.py``), not a pickled object:
MLflow is turning off the loading of pickled pyfuncs by default.
"""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ferpipe.detect import face_crop
from ferpipe.evaluate import ensemble as ens
from ferpipe.evaluate.calibration import scale
from ferpipe.evaluate.metrics import softmax
from ferpipe.labels import CLASSES
from ferpipe.models.inference import predict_logits
from ferpipe.models.saved import load_model
from ferpipe.serving.model_card import IDENTITY_FILE

SIDE = 48
CONFIG_ARTIFACT = "classifier.json"
MAX_BATCH = 1024  # images per request: a bigger payload is refused, not computed
MAX_IMAGE_BYTES = 10 * 2**20  # one base64-decoded image file
PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")  # what MLflow stores and runs to build the model


@dataclass
class FerClassifier:
    """Members' probabilities on 48x48 grey faces, combined by ``method``."""

    members: dict[str, nn.Module]
    method: str = "average"  # ignored for a single member
    weights: np.ndarray | None = None
    tta: str = "none"  # the test-time views the members were loaded with (evaluate.tta)
    temperature: float = 1.0  # fitted on validation by the evaluation (ferpipe.evaluate.calibration)

    @classmethod
    def load(
        cls,
        model_files: dict[str, Path],
        method: str,
        weights: list[float] | None,
        tta: str = "none",
        temperature: float = 1.0,
    ) -> FerClassifier:
        members = {name: load_model(path, tta) for name, path in model_files.items()}
        fitted = None if weights is None else np.asarray(weights, dtype=np.float64)
        return cls(members, method, fitted, tta, temperature)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(n, 7) calibrated class probabilities for uint8 images of shape (n, 48, 48)."""
        probs = [softmax(predict_logits(model, images)) for model in self.members.values()]
        combined = probs[0] if len(probs) == 1 else ens.combine(self.method, probs, self.weights)
        return scale(combined, self.temperature)


def to_images(payload: Any) -> np.ndarray:
    """Requests as uint8 (n, 48, 48): arrays of 48x48 (or 2304) grey values in 0-255, or a
    DataFrame with an ``image`` column of base64-encoded image files (any size, colour or grey).

    Anything else raises ``ValueError`` naming the problem (the server turns it into a 400).
    """
    import pandas as pd

    if hasattr(payload, "__len__") and len(payload) > MAX_BATCH:
        raise ValueError(f"{len(payload)} images in one request; at most {MAX_BATCH}")
    if isinstance(payload, pd.DataFrame):
        if "image" in payload.columns:
            return np.stack([_decode_image(value, row) for row, value in enumerate(payload["image"])])
        payload = payload.to_numpy()
    if isinstance(payload, dict):
        raise ValueError(f"expected an array of 48x48 images or an 'image' column, got keys {sorted(payload)}")
    try:
        array = np.asarray(payload, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"inputs must be numbers (grey values 0-255): {exc}") from exc
    if array.ndim == 2 and array.shape == (SIDE, SIDE):
        array = array[None]
    if array.ndim == 2 and array.shape[1] == SIDE * SIDE:
        array = array.reshape(-1, SIDE, SIDE)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (SIDE, SIDE) or len(array) == 0:
        raise ValueError(f"expected images of shape (n, {SIDE}, {SIDE}) or (n, {SIDE * SIDE}), got {array.shape}")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
        raise ValueError("grey values must be finite numbers in 0-255")
    return array.round().astype(np.uint8)


def _decode_image(value: Any, row: int) -> np.ndarray:
    """One base64 image file as a 48x48 grey face, upright by its EXIF orientation: the largest face
    the Haar cascade finds in a bigger picture, else the whole picture, resized. A picture over
    ``FERPIPE_MAX_IMAGE_PIXELS`` is refused before it is decoded."""
    from PIL import Image

    from ferpipe.images import UnreadablePicture, open_picture

    text = str(value)
    if len(text) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ValueError(f"row {row}: 'image' is larger than {MAX_IMAGE_BYTES // 2**20} MiB")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"row {row}: 'image' is not valid base64 ({exc})") from exc
    try:
        grey = np.asarray(open_picture(data).convert("L"), dtype=np.uint8)
    except UnreadablePicture as exc:
        raise ValueError(f"row {row}: 'image' is {exc}") from exc
    face = face_crop(grey) if min(grey.shape) > SIDE else grey
    return np.asarray(Image.fromarray(face).resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.uint8)


def predictions_frame(probs: np.ndarray, identity: dict[str, str] | None = None) -> Any:
    """One row per image: the label and a probability column per class; with the registered
    version's ``identity`` (its model card), which version answered and its warning, if any."""
    import pandas as pd

    frame = pd.DataFrame(probs.round(6), columns=list(CLASSES))
    frame.insert(0, "label", [CLASSES[i] for i in probs.argmax(axis=1)])
    for key, value in (identity or {}).items():
        frame[key] = value
    return frame


def registered_identity(config_file: Path) -> dict[str, str] | None:
    """The model card's identity stored beside a registered model (its root is two levels above
    the artifact files: ``<model>/artifacts/<file>``); None for a model logged but not registered."""
    found = config_file.parents[1] / IDENTITY_FILE
    return json.loads(found.read_text()) if found.exists() else None


def log_classifier(
    model_files: dict[str, Path],
    method: str,
    weights: list[float] | None,
    workdir: Path,
    registered_name: str,
    model_name: str,
    tta: str = "none",
    temperature: float = 1.0,
) -> Any:
    """Log the classifier to the active run as the logged model ``model_name`` and register a new version;
    it answers with its probabilities at ``temperature`` (fitted on validation)."""
    import mlflow
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / CONFIG_ARTIFACT
    settings = {"members": list(model_files), "method": method, "weights": weights, "tta": tta}
    config.write_text(json.dumps({**settings, "temperature": temperature}))
    # MLflow advises type hints it can turn into a schema, warns with or without them, and forces
    # its own filter ("once"), so the warnings are recorded here and dropped; to_images validates
    # the input itself and answers a 400 that names the problem
    with warnings.catch_warnings(record=True):
        return mlflow.pyfunc.log_model(
            name=model_name,
            python_model=str(PYFUNC_FILE),  # a model from code: MLflow runs the file, nothing is pickled
            artifacts={"config": str(config), **{name: str(path) for name, path in model_files.items()}},
            code_paths=[str(Path(__file__).parent)],
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "timm", "numpy", "pandas", "pillow"],
            registered_model_name=registered_name,
        )
