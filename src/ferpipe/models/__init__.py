"""The model zoo. Importing this package registers every model family."""

from ferpipe.models import hog, simple, timm_models, vgg, xception  # noqa: F401  (each registers its models)
from ferpipe.models.registry import count_parameters, create_model, describe, list_models, register

__all__ = ["count_parameters", "create_model", "describe", "list_models", "register"]
