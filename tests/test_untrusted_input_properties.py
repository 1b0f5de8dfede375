"""Property tests (Hypothesis) for what parses untrusted input beyond the readers (tests/test_bad_input_fuzz.py
and tests/test_images.py): the served model's payload and the params file.

Whatever arrives, the answer is the parsed value or one ``ValueError`` / ``ParamsError`` line naming
what is wrong, never another exception and never a wall of text.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferpipe.config import load_yaml
from ferpipe.schema import ParamsError, validate_params
from ferpipe.serving.classifier import to_images

REPO = Path(__file__).resolve().parents[1]
PARAMS = load_yaml(REPO / "params.yaml")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), st.binary(max_size=20)
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


def _one_line_value_error(call: Any) -> None:
    try:
        call()
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)


@PROPERTY
@given(junk)
def test_any_json_like_payload_is_images_or_one_value_error(payload: Any) -> None:
    def check() -> None:
        images = to_images(payload)
        assert images.dtype == np.uint8 and images.shape[1:] == (48, 48)

    _one_line_value_error(check)


@PROPERTY
@given(
    st.lists(
        st.one_of(st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()), st.text(max_size=40)),
        min_size=1,
        max_size=4,
    )
)
def test_any_image_column_is_faces_or_one_value_error_naming_the_row(values: list[str]) -> None:
    try:
        images = to_images(pd.DataFrame({"image": values}))
    except ValueError as exc:
        assert str(exc).startswith("row ") and "\n" not in str(exc), str(exc)
    else:
        assert images.shape == (len(values), 48, 48)


@PROPERTY
@given(st.integers(0, 2**32 - 1), st.floats(1e-6, 1.0), st.integers(1, 512), st.floats(0.0, 0.99), st.booleans())
def test_random_valid_params_fit_and_survive_a_yaml_round_trip(
    seed: int, lr: float, batch: int, smoothing: float, flip: bool
) -> None:
    params = copy.deepcopy(PARAMS)
    params["train"].update(seed=seed, batch_size=batch, label_smoothing=smoothing)
    params["train"]["augment"]["flip"] = flip
    params["models"]["cnn"]["lr"] = lr
    validate_params(params)
    again = yaml.safe_load(yaml.safe_dump(params))
    assert again == params
    validate_params(again)


def _leaves(tree: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in _leaves(value, (*path, key))] or [path]
    return [path]


LEAVES = [leaf for leaf in _leaves(PARAMS) if leaf]


@PROPERTY
@given(st.sampled_from(LEAVES), junk)
def test_any_value_anywhere_in_params_fits_or_is_one_line_per_key(leaf: tuple, value: Any) -> None:
    params = copy.deepcopy(PARAMS)
    node = params
    for key in leaf[:-1]:
        node = node[key]
    node[leaf[-1]] = value
    try:
        validate_params(params)
    except ParamsError as exc:
        for line in str(exc).splitlines():
            assert line.startswith("params.yaml: ") and len(line) < 600, line
        assert any(".".join(map(str, leaf[:2])) in line for line in str(exc).splitlines()), (leaf, str(exc))
