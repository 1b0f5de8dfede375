"""Test-only sources (``read.role: test_only``): the cross-dataset protocol. Their faces form the
split ``cross``, the audit checks them against training like any held-out split, and balance
never sees them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferpipe.config import Paths, load_yaml
from ferpipe.data.dataset import CROSS, load_cross_sets, load_manifest, save_prepared
from ferpipe.data.prepare import prepare
from ferpipe.schema import validate_params
from ferpipe.sources import materialise
from ferpipe.stages import audit as audit_stage
from tests.conftest import fetch_of, params_of, prepare_of, sources_of, write_params

USAGE_MAP = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def test_a_test_only_source_is_its_own_held_out_set_and_its_training_copies_are_dropped(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    fer = {"layout": "fer2013_csv", "seed": 4, "counts": {"Training": 120, "PublicTest": 40, "PrivateTest": 40}}
    materialise("fer2013", fetch_of({"kind": "synthetic", **fer, "duplicates": 0, "blank": 0}), raw, raw)
    materialise(
        "ckplus",
        fetch_of({"kind": "synthetic", "layout": "ckplus", "seed": 2, "sequences": 12, "subjects": 6}),
        raw,
        raw,
    )
    (raw / "ckplus_copy").symlink_to(raw / "ckplus")  # the same faces offered as extra training data: a leak
    sources = {
        "fer2013": {"read": {"format": "fer2013_csv", "role": "primary"}},
        "ckplus": {"read": {"format": "ckplus", "role": "test_only"}},
        "ckplus_copy": {"read": {"format": "ckplus", "role": "extra"}},
    }
    result = prepare(sources_of(sources), raw, prepare_of({"usage_map": USAGE_MAP, "seed": 0}))
    cross = result.manifest[result.manifest["source"] == "ckplus"]
    assert len(cross) > 0 and set(cross["split"]) == {CROSS}  # every frame, whatever its folder said
    assert result.report["splits"][CROSS] == len(cross)
    assert set(result.manifest.loc[result.manifest["split"] == "val", "source"]) == {"fer2013"}

    paths = Paths(tmp_path)
    save_prepared(paths.prepared, result.images, result.manifest)
    audit_stage.run(params_of(audit={"policy": "drop_from_train"}), paths)
    kept = load_manifest(paths.audited)
    # the test-only faces stay whole; every training copy of them is dropped, and the audit says so
    assert (kept["split"] == CROSS).sum() == len(cross)
    assert not set(kept.loc[kept["split"] == "train", "sha1"]) & set(cross["sha1"])
    audit = json.loads(paths.detail("audit").read_text())
    assert audit["cross_images_with_copies"] == cross["sha1"].nunique() and audit["dropped"] >= len(cross)

    sets = load_cross_sets(paths.audited)
    assert list(sets) == ["ckplus"] and len(sets["ckplus"]) == len(cross)
    assert np.array_equal(sets["ckplus"].labels, kept.loc[kept["split"] == CROSS, "label"].to_numpy())


def test_a_pipeline_without_test_only_sources_has_no_cross_sets(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    fer = {"layout": "fer2013_csv", "seed": 4, "counts": {"Training": 60, "PublicTest": 20, "PrivateTest": 20}}
    materialise("fer2013", fetch_of({"kind": "synthetic", **fer, "duplicates": 0, "blank": 0}), raw, raw)
    result = prepare(
        sources_of({"fer2013": {"read": {"format": "fer2013_csv", "role": "primary"}}}),
        raw,
        prepare_of({"usage_map": USAGE_MAP}),
    )
    save_prepared(tmp_path / "prepared", result.images, result.manifest)
    assert CROSS not in result.report["splits"] and load_cross_sets(tmp_path / "prepared") == {}


def test_the_schema_takes_test_only_and_names_the_roles_on_a_typo(tmp_path: Path) -> None:
    params = load_yaml(write_params(tmp_path))
    params["sources"]["ckplus"]["read"]["role"] = "test_only"
    validate_params(params, "params.yaml")
    params["sources"]["ckplus"]["read"]["role"] = "testonly"
    with pytest.raises(ValueError, match=r"sources\.ckplus\.read\.role: .*'test_only'"):
        validate_params(params, "params.yaml")
