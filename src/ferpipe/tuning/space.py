"""The search space of ``params.yaml``'s ``tune`` section: checked against the tuned model, sampled per
trial, written back into a copy of the params the trial trains with."""

from __future__ import annotations

import copy
from typing import Any

from ferpipe.models.registry import create_model
from ferpipe.schema import ParamsError, validate_params


def tuned_space(params: dict[str, Any], model: str) -> dict[str, dict[str, Any]]:
    """``tune.space`` for ``model``: one clear error naming the key when a key sets another model, or when
    a value at the edge of its range is one the params schema or the model's builder refuses."""
    tune = params.get("tune")
    if not tune:
        raise ParamsError("params.yaml: tune: no search space (add tune.space; see docs/how-to/sweeps.md)")
    space = tune["space"]
    for key, dimension in space.items():
        parts = key.split(".")
        if parts[0] == "models" and parts[1] not in params["models"]:
            have = ", ".join(params["models"])
            raise ParamsError(f"params.yaml: tune.space.{key}: {parts[1]!r} is not a model under models (have: {have})")
        if parts[0] == "models" and parts[1] != model:
            raise ParamsError(f"params.yaml: tune.space.{key}: sets model {parts[1]!r}, but the study tunes {model!r}")
        for value in _extremes(dimension):
            trial_params = with_values(params, {key: value})
            try:
                validate_params(trial_params)
                if parts[0] == "models" and parts[2] == "args":
                    create_model(params["models"][model]["arch"], **trial_params["models"][model]["args"])
            except ValueError as exc:
                why = str(exc).removeprefix("params.yaml: ")
                raise ParamsError(f"params.yaml: tune.space.{key}: the value {value!r} is refused: {why}") from None
    return space


def _extremes(dimension: dict[str, Any]) -> list[Any]:
    """The values a dimension can reach at its edges: every choice, or both ends of a range."""
    if "choices" in dimension:
        return list(dimension["choices"])
    cast = int if dimension.get("type") == "int" else float
    return [cast(dimension["low"]), cast(dimension["high"])]


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One value per searched key, drawn by the trial's sampler (Optuna names each param by its key)."""
    values: dict[str, Any] = {}
    for key, dim in space.items():
        if "choices" in dim:
            values[key] = trial.suggest_categorical(key, dim["choices"])
        elif dim.get("type") == "int":
            step = int(dim.get("step") or 1)
            values[key] = trial.suggest_int(
                key, int(dim["low"]), int(dim["high"]), step=step, log=dim.get("log", False)
            )
        else:
            values[key] = trial.suggest_float(
                key, float(dim["low"]), float(dim["high"]), step=dim.get("step"), log=dim.get("log", False)
            )
    return values


def current_values(params: dict[str, Any], space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The value ``params`` gives each searched key, where it gives one inside the key's range or choices
    (a model's setting it leaves to ``train`` is read there; one left to a builder's default is not known)."""
    found: dict[str, Any] = {}
    for key, dim in space.items():
        value = _lookup(params, key)
        parts = key.split(".")
        if value is None and parts[0] == "models" and parts[2] != "args":
            value = _lookup(params, ".".join(["train", *parts[2:]]))
        if value is not None and _inside(value, dim):
            found[key] = value
    return found


def _lookup(params: dict[str, Any], key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _inside(value: Any, dim: dict[str, Any]) -> bool:
    if "choices" in dim:
        return value in dim["choices"]
    return isinstance(value, int | float) and not isinstance(value, bool) and dim["low"] <= value <= dim["high"]


def with_values(params: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with each dotted key set (missing mappings on the way are created)."""
    changed = copy.deepcopy(params)
    for key, value in values.items():
        *path, last = key.split(".")
        node = changed
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return changed


def exp_run_flags(values: dict[str, Any], model: str, params: dict[str, Any]) -> list[str]:
    """``-S key=value`` pairs that set the same values in a DVC experiment (``repr`` keeps every digit).

    A ``train.<setting>`` the study searched is set on ``models.<model>`` instead: the trials trained
    only that model with it, and the experiment must not change every other model's recipe too. A key
    ``params`` does not have yet is written ``+key=value``, Hydra's way (DVC's ``-S``) to add one.
    """
    flags = []
    for searched, value in values.items():
        key = f"models.{model}.{searched.removeprefix('train.')}" if searched.startswith("train.") else searched
        text = (
            str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, float) else str(value)
        )
        flags += ["-S", f"{'' if _lookup(params, key) is not None else '+'}{key}={text}"]
    return flags
