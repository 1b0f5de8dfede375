"""What a pipeline registers: one model or an ensemble, with what the model card and the
champion rule need to know about it. Its own module, below both the card and the registration
that use it, so neither has to import the other for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Chosen:
    """What is registered: one model, or an ensemble of ``files`` combined by ``method``."""

    name: str  # the model's name, or ensemble_<method>
    files: dict[str, Path]  # each member's weights
    method: str  # the ensemble method, or the model's own name
    weights: list[float] | None  # the weighted ensemble's, fitted on validation
    run_ids: list[str]  # each member's train run ("" where this store does not have it)
    val_predicted: np.ndarray  # its class on each validation face: kept with the version, paired with the next
    student: bool = False  # a distilled student: registered, but not the pipeline's best

    @property
    def members(self) -> list[str]:
        return list(self.files)
