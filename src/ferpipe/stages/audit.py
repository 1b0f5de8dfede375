"""The ``audit`` stage: exact and near copies across splits found, the policy applied, ``data/audited`` written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ferpipe.config import Paths
from ferpipe.data.audit import (
    audit_pairs,
    exact_pairs,
    summarise,
    write_pairs_png,
)
from ferpipe.data.dataset import IMAGES, load_manifest, save_prepared
from ferpipe.io import write_json
from ferpipe.protocol import warn_if_leaky

if TYPE_CHECKING:
    from ferpipe.schema import Params


def run(params: Params, paths: Paths) -> None:
    """The ``audit`` stage: find leaks, apply the policy, write the audited dataset and report."""
    cfg = params.audit
    policy = cfg.policy
    leaky = warn_if_leaky(params)
    manifest = load_manifest(paths.prepared)
    images = np.load(paths.prepared / IMAGES)
    near = audit_pairs(images, manifest, cfg.max_hash_distance, cfg.max_rmse)
    pairs = pd.concat([exact_pairs(manifest), near[near["rmse"] > 0]], ignore_index=True)
    pairs = pairs.sort_values(["rmse", "held", "copy"], kind="stable").reset_index(drop=True)
    leaks = pairs[pairs["kind"] != "train~train"]
    drop = np.zeros(len(manifest), dtype=bool)
    if policy == "drop_from_train":
        drop[leaks["copy"].to_numpy(dtype=int)] = True
    report = {
        "policy": policy,
        "max_hash_distance": cfg.max_hash_distance,
        "max_rmse": float(cfg.max_rmse),
        **summarise(pairs, manifest),
        "dropped": int(drop.sum()),
        "leaky_protocol": bool(leaky),
        "deliberate_leaks": leaky,
    }
    write_json(paths.detail("audit"), report)
    # the headline DVC metrics: held-out images with a copy elsewhere, and copies dropped for them
    write_json(paths.headline("audit"), {"copies": int(leaks["held"].nunique()), "copies_dropped": int(drop.sum())})
    write_pairs_png(paths.metrics / "audit_pairs.png", images, pairs, manifest)
    print(
        f"audit: {len(leaks)} pairs across splits ({int((leaks['rmse'] == 0).sum())} exact), "
        f"{int((pairs['kind'] == 'train~train').sum())} near pairs within training; dropped {int(drop.sum())}"
    )
    if policy == "fail" and len(leaks):
        raise ValueError(
            f"audit: {leaks['held'].nunique()} validation/test images have copies in training or validation "
            f"(see metrics/details/audit.json, metrics/audit_pairs.png); policy is 'fail'"
        )
    kept = manifest[~drop].reset_index(drop=True)
    kept["index"] = np.arange(len(kept))
    save_prepared(paths.audited, images[~drop], kept)
