"""The model registry: add a model by writing one file, ``zoo/<name>.py``, defining one function
``<name>`` that builds it. The file's name is the model's name: a model is imported when it is
first asked for, so nothing else lists it and a stage depends on its own model's file."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ferpipe.named import Registry

ModelFn = Callable[..., nn.Module]
MODELS: Registry[ModelFn] = Registry("model", package=f"{__package__}.zoo")


def list_models() -> list[str]:
    """Names of every model: the files of the zoo (no model is imported to list them)."""
    return MODELS.names()


class Standardize(nn.Module):
    """Map pixels in [0, 1] to roughly zero mean and unit spread, inside the model.

    Keeping it in the model means a saved or served model takes plain [0, 1] images.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 0.5) / 0.25


def create_model(arch: str, num_classes: int = 7, in_chans: int = 1, **kwargs: Any) -> nn.Module:
    """Build a registered model by name, taking [0, 1] images.

    An unknown name or argument is a ValueError listing what exists, and an argument of the
    wrong kind one naming the model, so a params typo never ends in a traceback.
    """
    build = MODELS[arch]
    allowed = [p for p in inspect.signature(build).parameters if p not in ("num_classes", "in_chans")]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"{arch} has no argument {', '.join(unknown)}; allowed: {', '.join(allowed) or 'none'}")
    try:
        net = build(num_classes=num_classes, in_chans=in_chans, **kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{arch} cannot be built from arguments {kwargs}: {exc}") from exc
    return nn.Sequential(Standardize(), net)


def describe(arch: str) -> str:
    """The first line of a model function's docstring."""
    return (MODELS[arch].__doc__ or "").strip().splitlines()[0]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_option(model: nn.Module, name: str, default: Any) -> Any:
    """A class-level option a model family declares (``criterion``, ``train_views``)."""
    return next((getattr(m, name) for m in model.modules() if hasattr(m, name)), default)


def penalty(model: nn.Module) -> torch.Tensor | float:
    """Extra loss terms a model declares (Keras-style L2 on a classifier)."""
    return sum((m.penalty() for m in model.modules() if hasattr(m, "penalty")), 0.0)
