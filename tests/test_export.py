"""ONNX export: the graph answers like the torch model, for any batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ferpipe.models import create_model
from ferpipe.models.saved import save_model
from ferpipe.serving.export import export_onnx


@pytest.mark.parametrize("arch", ["simple_cnn", "mini_xception", "hog_svm"])
def test_onnx_export_matches_torch(tmp_path: Path, arch: str) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    model_file = tmp_path / "model.pt"
    save_model(model_file, create_model(arch), arch, {})
    images = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    difference = export_onnx(model_file, tmp_path / f"{arch}.onnx", images)
    assert difference < 1e-4
    session = ort.InferenceSession(str(tmp_path / f"{arch}.onnx"))
    for batch in (1, 5):  # the batch dimension stays dynamic
        out = session.run(["logits"], {"images": np.random.rand(batch, 1, 48, 48).astype(np.float32)})[0]
        assert out.shape == (batch, 7)
