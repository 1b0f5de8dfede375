"""The registered classifier as an MLflow model from code.

MLflow stores this file with the model (``python_model=`` its path) and runs it when the model
is loaded, so nothing is unpickled: ``set_model`` names the pyfunc, which reads everything it
answers with from the model's artifacts (``classifier.json`` and the members' weights). The
``ferpipe`` package travels with the model as its code path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from ferpipe.serving.classifier import FerClassifier, predictions_frame, registered_identity, to_images


class FerPyfunc(mlflow.pyfunc.PythonModel):
    """Answers a batch of faces (arrays or base64 image files) with labels and calibrated probabilities."""

    def load_context(self, context: Any) -> None:
        config = json.loads(Path(context.artifacts["config"]).read_text())
        files = {name: Path(context.artifacts[name]) for name in config["members"]}
        self.classifier = FerClassifier.load(
            files,
            config["method"],
            config.get("weights"),
            config.get("tta", "none"),
            config.get("temperature", 1.0),
        )
        self.identity = registered_identity(Path(context.artifacts["config"]))

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        try:
            images = to_images(model_input)
        except ValueError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        return predictions_frame(self.classifier.predict_proba(images), self.identity)


mlflow.models.set_model(FerPyfunc())
