"""``ferpipe export``: trained models as ONNX, each checked against torch with onnxruntime.

The graph takes a float batch (n, 1, 48, 48) of grey values in [0, 1] (input ``images``, any n)
and returns ``logits`` (n, 7), exactly as the torch model does. The temperature the evaluation
fitted on validation is in the file's metadata (``temperature``): calibrated probabilities are
``softmax(logits / temperature)``, as the registered classifier and ``ferpipe predict`` answer.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ferpipe.io import atomic_path
from ferpipe.models.saved import load_model

FORMATS = ("onnx",)
PARITY_ATOL = 1e-4  # float32 logits of torch and onnxruntime on the same images


TEMPERATURE_KEY = "temperature"


def export_onnx(
    model_file: Path, target: Path, check_images: np.ndarray, tta: str = "none", temperature: float = 1.0
) -> float:
    """Export one saved model, with the test-time views ``tta`` names inside the graph and
    ``temperature`` in its metadata, to ``target`` (atomically) and return its largest logit
    difference from torch on ``check_images`` (uint8, (n, 48, 48)); a difference over PARITY_ATOL
    is an error."""
    import onnx
    import onnxruntime as ort

    model = load_model(model_file, tta)
    example = torch.rand(2, 1, 48, 48)
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
        program.save(str(tmp))
        graph = onnx.load(str(tmp))
        onnx.helper.set_model_props(graph, {TEMPERATURE_KEY: repr(float(temperature))})
        onnx.save(graph, str(tmp))
    batch = torch.from_numpy(check_images).float().div(255.0).unsqueeze(1)
    with torch.no_grad():
        expected = model(batch).numpy()
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"images": batch.numpy()})[0]
    difference = float(np.abs(got - expected).max())
    if difference > PARITY_ATOL:
        target.unlink()
        raise ValueError(f"{model_file}: ONNX logits differ from torch by {difference:.2e} (> {PARITY_ATOL})")
    return difference
