"""The model zoo (one file per model in ``zoo/``), its registry, and saving and scoring models."""

from ferpipe.models.registry import count_parameters, create_model, describe, list_models

__all__ = ["count_parameters", "create_model", "describe", "list_models"]
