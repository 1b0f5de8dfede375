"""The search space of ``params.yaml``'s ``tune`` section: checked against the tuned model, sampled per
trial, written back into a copy of the params document the trial trains with.

A searched key is a dotted path of the params file (``models.cnn.lr``), so setting and reading one is
done on the document (:meth:`ferpipe.schema.Params.document`), which is parsed again into typed
sections before anything trains with it.
"""

from __future__ import annotations

import copy
from typing import Any

from ferpipe.models.registry import create_model
from ferpipe.schema import Dimension, Params, ParamsError, parse_params


def tuned_space(params: Params, model: str) -> dict[str, Dimension]:
    """``tune.space`` for ``model``: one clear error naming the key when a key sets another model, or when
    a value at the edge of its range is one the params schema or the model's builder refuses."""
    if params.tune is None:
        raise ParamsError("params.yaml: tune: no search space (add tune.space; see docs/how-to/sweeps.md)")
    document = params.document()
    for key, dimension in params.tune.space.items():
        parts = key.split(".")
        if parts[0] == "models" and parts[1] not in params.models:
            have = ", ".join(params.models)
            raise ParamsError(f"params.yaml: tune.space.{key}: {parts[1]!r} is not a model under models (have: {have})")
        if parts[0] == "models" and parts[1] != model:
            raise ParamsError(f"params.yaml: tune.space.{key}: sets model {parts[1]!r}, but the study tunes {model!r}")
        for value in _extremes(dimension):
            try:
                trial = parse_params(with_values(document, {key: value}))
                if parts[0] == "models" and parts[2] == "args":
                    create_model(trial.models[model].arch, **trial.models[model].args)
            except ValueError as exc:
                why = str(exc).removeprefix("params.yaml: ")
                raise ParamsError(f"params.yaml: tune.space.{key}: the value {value!r} is refused: {why}") from None
    return dict(params.tune.space)


def _extremes(dimension: Dimension) -> list[Any]:
    """The values a dimension can reach at its edges: every choice, or both ends of a range."""
    if dimension.choices is not None:
        return list(dimension.choices)
    cast = int if dimension.type == "int" else float
    return [cast(dimension.low), cast(dimension.high)]


def suggest(trial: Any, space: dict[str, Dimension]) -> dict[str, Any]:
    """One value per searched key, drawn by the trial's sampler (Optuna names each param by its key)."""
    values: dict[str, Any] = {}
    for key, dim in space.items():
        if dim.choices is not None:
            values[key] = trial.suggest_categorical(key, dim.choices)
        elif dim.type == "int":
            values[key] = trial.suggest_int(key, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)
        else:
            values[key] = trial.suggest_float(key, float(dim.low), float(dim.high), step=dim.step, log=dim.log)
    return values


def current_values(params: Params, space: dict[str, Dimension]) -> dict[str, Any]:
    """The value ``params`` gives each searched key, where it gives one inside the key's range or choices
    (a model's setting it leaves to ``train`` is read there; one left to a builder's default is not known)."""
    document = params.document()
    found: dict[str, Any] = {}
    for key, dim in space.items():
        value = _lookup(document, key)
        parts = key.split(".")
        if value is None and parts[0] == "models" and parts[2] != "args":
            value = _lookup(document, ".".join(["train", *parts[2:]]))
        if value is not None and _inside(value, dim):
            found[key] = value
    return found


def _lookup(document: dict[str, Any], key: str) -> Any:
    node: Any = document
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _inside(value: Any, dim: Dimension) -> bool:
    if dim.choices is not None:
        return value in dim.choices
    return isinstance(value, int | float) and not isinstance(value, bool) and dim.low <= value <= dim.high


def with_values(document: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a params ``document`` with each dotted key set (missing mappings on the way are created)."""
    changed = copy.deepcopy(document)
    for key, value in values.items():
        *path, last = key.split(".")
        node = changed
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return changed


def exp_run_flags(values: dict[str, Any], model: str, document: dict[str, Any]) -> list[str]:
    """``-S key=value`` pairs that set the same values in a DVC experiment (``repr`` keeps every digit).

    A ``train.<setting>`` the study searched is set on ``models.<model>`` instead: the trials trained
    only that model with it, and the experiment must not change every other model's recipe too. A key
    the params ``document`` does not have yet is written ``+key=value``, Hydra's way (DVC's ``-S``) to add one.
    """
    flags = []
    for searched, value in values.items():
        key = f"models.{model}.{searched.removeprefix('train.')}" if searched.startswith("train.") else searched
        text = (
            str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, float) else str(value)
        )
        flags += ["-S", f"{'' if _lookup(document, key) is not None else '+'}{key}={text}"]
    return flags
