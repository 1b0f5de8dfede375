"""The ``balance`` stage: ``data/balanced``, the splits every model trains and is scored on."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

from ferpipe.config import Paths
from ferpipe.data.balance import (
    as_dataset,
    balance,
    balance_params,
    balance_then_split,
    class_counts,
)
from ferpipe.data.dataset import Split, load_split, save_prepared
from ferpipe.io import write_json
from ferpipe.protocol import warn_if_leaky

if TYPE_CHECKING:
    from ferpipe.schema import Params


def _digests(images: np.ndarray) -> list[str]:
    return [hashlib.sha1(image.tobytes()).hexdigest() for image in images]


def _leak_evidence(original: dict[str, Split], result: dict[str, Split]) -> dict[str, int]:
    """How many test images of a re-split dataset are synthetic, and how many have an exact copy in training."""
    real = set().union(*(_digests(s.images) for s in original.values()))
    train = set(_digests(result["train"].images))
    test = _digests(result["test"].images)
    return {
        "test_images": len(test),
        "test_synthetic": sum(h not in real for h in test),
        "test_with_copy_in_train": sum(h in train for h in test),
    }


def run(params: Params, paths: Paths) -> None:
    """The ``balance`` stage: write ``data/balanced``, the splits every model trains and is scored on.

    With ``scope: after_split`` (ferpipe's protocol) only the training split is rebalanced and
    validation and test pass through untouched. ``before_split`` is a report's leaky protocol,
    reproduced on purpose and flagged (:mod:`ferpipe.protocol`).
    """
    scope = params.balance.scope
    warn_if_leaky(params)
    kwargs = balance_params(params.balance)
    audited = {split: load_split(paths.audited, split) for split in ("train", "val", "test")}
    if scope == "after_split":
        result = {**audited, "train": balance(audited["train"], **kwargs)}
    else:
        result = balance_then_split(audited, **kwargs)
    save_prepared(paths.balanced, *as_dataset(result))
    report: dict[str, Any] = {
        "method": kwargs["method"],
        "scope": scope,
        "train_before": class_counts(audited["train"].labels),
        "train_after": class_counts(result["train"].labels),
    }
    if scope == "after_split":
        report.update({f"{split}_untouched": class_counts(audited[split].labels) for split in ("val", "test")})
    else:
        report["leak_evidence"] = _leak_evidence(audited, result)
        report["test_after"] = class_counts(result["test"].labels)
    write_json(paths.detail("balance"), report)
    print(f"balance ({kwargs['method']}, {scope}): {len(audited['train'])} -> {len(result['train'])} training images")
