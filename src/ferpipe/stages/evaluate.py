"""The ``evaluate@<model>`` stage: score one trained model on validation and test, and keep its
probabilities for the ensemble."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferpipe.config import Paths
from ferpipe.pipeline.scoring import ScoringSettings, evaluate_model

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(name: str, params: Params, paths: Paths) -> None:
    """Score one trained model on validation and test; keep its probabilities for the ensemble."""
    evaluate_model(name, paths.model_file(name), paths.predictions / name, ScoringSettings.of(params), paths)
