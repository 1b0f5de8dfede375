"""The ``evaluate@<model>`` stage: score one trained model on validation and test, and keep its
probabilities for the ensemble."""

from __future__ import annotations

from typing import Any

from ferpipe.config import Paths
from ferpipe.pipeline.scoring import evaluate_model


def run(name: str, params: dict[str, Any], paths: Paths) -> None:
    """Score one trained model on validation and test; keep its probabilities for the ensemble."""
    evaluate_model(name, paths.model_file(name), paths.predictions / name, params, paths)
