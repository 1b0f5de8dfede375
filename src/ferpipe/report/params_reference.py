"""The params reference, written from the schema so the docs can never drift from what is checked.

``ferpipe params`` prints it, and the docs site's params page is built from it (``docs/hooks.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from ferpipe.schema import FETCH_KINDS, Params

Row = tuple[str, str, str]
BOUNDS = (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))


def reference() -> str:
    """A Markdown table: every key path, what it accepts, and its default."""
    schema = Params.model_json_schema()
    rows = list(_section(schema, schema["$defs"], ""))
    lines = ["| key | accepts | default |", "| --- | --- | --- |"]
    lines += [f"| `{key}` | {accepts} | {default} |" for key, accepts, default in rows]
    return "\n".join(lines) + "\n"


def _section(node: dict[str, Any], defs: dict[str, Any], prefix: str) -> Iterator[Row]:
    """Rows for every property of an object schema, sections recursed into."""
    required = set(node.get("required", ()))
    for name, prop in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        prop = _unwrap_optional(prop)
        target = _resolve(prop, defs)
        if "discriminator" in prop:  # sources.<name>.fetch: one block per kind, its kind row first
            for kind in FETCH_KINDS:
                branch = defs[prop["discriminator"]["mapping"][kind].rsplit("/", 1)[1]]
                yield f"{key}.kind", f"`{kind}`, with the keys below", "required"
                yield from (row for row in _section(branch, defs, f"{key}.") if not row[0].endswith(".kind"))
        elif target.get("properties"):
            yield from _section(target, defs, f"{key}.")
        elif "$ref" in (_map_values(target) or {}):
            yield from _section(_resolve(_map_values(target), defs), defs, f"{key}.<name>.")
        else:
            yield key, _accepts(prop, defs), "required" if name in required else _default(key, prop)


def _map_values(node: dict[str, Any]) -> Any:
    """The schema of a map's values: ``additionalProperties``, or the one ``patternProperties`` entry
    that a map with constrained names (``models``, ``sources``: stage-safe names) has instead."""
    values = node.get("additionalProperties")
    return values if isinstance(values, dict) else next(iter(node.get("patternProperties", {}).values()), None)


def _unwrap_optional(prop: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as X, keeping the default."""
    options = [o for o in prop.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1 and len(prop["anyOf"]) == 2:
        return {**options[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    return prop


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    return defs[prop["$ref"].rsplit("/", 1)[1]] if "$ref" in prop else prop


def _accepts(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """What a leaf accepts, in words: enums, number ranges, lists and maps."""
    if not isinstance(prop, dict) or not prop:  # a free mapping's values (a model's args)
        return "anything"
    prop = _resolve(_unwrap_optional(prop), defs)
    if "enum" in prop:
        return " \\| ".join(f"`{value}`" for value in prop["enum"])
    if "oneOf" in prop or "anyOf" in prop:
        return " or ".join(_accepts(option, defs) for option in prop.get("oneOf", prop.get("anyOf")))
    kind = prop.get("type")
    if kind in ("integer", "number"):
        bounds = [
            f"{sign} {prop[bound]}"
            for bound, sign in (
                ("minimum", "≥"),
                ("exclusiveMinimum", ">"),
                ("maximum", "≤"),
                ("exclusiveMaximum", "<"),
            )
            if bound in prop
        ]
        return ", ".join([f"{kind} {bounds[0]}", *bounds[1:]]) if bounds else kind
    if kind == "array":
        size = f"{prop['minItems']} " if prop.get("minItems") == prop.get("maxItems") and "minItems" in prop else ""
        return f"list of {size}{_accepts(prop['items'], defs)}".replace("  ", " ")
    if kind == "object":
        keys = prop.get("propertyNames", {}).get("enum")
        return f"map of {'class name' if keys else 'name'} → {_accepts(_map_values(prop) or {}, defs)}"
    return {"string": "text", "boolean": "`true` \\| `false`"}.get(kind, "anything")


def _default(key: str, prop: dict[str, Any]) -> str:
    """The default a missing key takes: the schema's, else the training engine's (``train``), else the
    shared ``train`` value (a model's override)."""
    inherited = key.startswith("models.<name>.") and not key.startswith("models.<name>.schedule.")
    if inherited and "default" in prop and prop["default"] is None:  # a model's schedule replaces train's whole
        return "`train`'s"
    if key.startswith("train."):
        return _engine_default(key.split(".", 2)[1:])
    default = prop.get("default")
    return "-" if default is None else f"`{json.dumps(default)}`"


def _engine_default(parts: list[str]) -> str:
    """TrainConfig's default for ``train.<field>`` (or ``train.augment.<field>``)."""
    from ferpipe.train.config import TrainConfig  # torch: only when the reference is written

    value: Any = {
        f.name: f.default_factory() if callable(f.default_factory) else f.default for f in fields(TrainConfig)
    }
    for part in parts:
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    if isinstance(value, tuple):
        value = list(value)
    return "-" if value is None else f"`{json.dumps(value)}`"
