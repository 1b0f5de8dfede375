"""The leakage audit: exact and near (mirrored, re-encoded) copies across splits and sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferpipe.config import Paths
from ferpipe.data.audit import exact_pairs, near_pairs, perceptual_hash, rmse
from ferpipe.data.dataset import load_manifest, save_prepared
from ferpipe.sources.faces import RenderOptions, render_faces
from ferpipe.stages import audit as audit_stage
from tests.conftest import params_of


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    rng = np.random.default_rng(7)
    return render_faces(rng, rng.integers(0, 7, 40), RenderOptions())


def test_hash_tolerates_noise_and_mirrors_but_tells_faces_apart(faces: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(faces.astype(int) + rng.integers(-3, 4, faces.shape), 0, 255).astype(np.uint8)
    mirrored = faces[:, :, ::-1].copy()
    base, noisy_h = perceptual_hash(faces), perceptual_hash(noisy)
    assert np.bitwise_count(base ^ noisy_h).max() <= 6
    flipped = perceptual_hash(mirrored)
    found = {(i, j) for i, j, _ in near_pairs(flipped, perceptual_hash(mirrored[:, :, ::-1].copy()), base, 6)}
    assert {(i, i) for i in range(len(faces))} <= found  # every mirror finds its original
    others = np.bitwise_count(base[:, None] ^ base[None, :])[~np.eye(len(base), dtype=bool)]
    assert np.median(others) > 15  # different faces are far apart
    assert rmse(faces[0], mirrored[0]) == 0.0


def _prepared(tmp_path: Path, faces: np.ndarray, extra_copy_of_test: bool) -> Paths:
    """train: faces 0-19 (+ a mirrored near copy of test face 30 from an 'extra' source); test: 30-39."""
    rng = np.random.default_rng(1)
    images = [faces[i] for i in range(20)] + [faces[i] for i in range(30, 40)]
    splits = ["train"] * 20 + ["test"] * 10
    sources, roles = ["fer"] * 30, ["primary"] * 30
    images.append(faces[31])  # exact copy of a test image in training
    splits.append("train"), sources.append("fer"), roles.append("primary")
    images.append(faces[32])  # ...and one in validation: model selection must not see it either
    splits.append("val"), sources.append("fer"), roles.append("primary")
    if extra_copy_of_test:
        near = np.clip(faces[30][:, ::-1].astype(int) + rng.integers(-2, 3, (48, 48)), 0, 255).astype(np.uint8)
        images.append(near)
        splits.append("train"), sources.append("augmented"), roles.append("extra")
    import hashlib

    manifest = pd.DataFrame(
        {
            "index": range(len(images)),
            "source": sources,
            "role": roles,
            "split": splits,
            "label": 3,
            "label_name": "happy",
            "sha1": [hashlib.sha1(i.tobytes()).hexdigest() for i in images],
        }
    )
    paths = Paths(tmp_path)
    save_prepared(paths.prepared, np.stack(images), manifest)
    return paths


def test_exact_pairs_cross_splits_only(tmp_path: Path, faces: np.ndarray) -> None:
    paths = _prepared(tmp_path, faces, extra_copy_of_test=False)
    pairs = exact_pairs(load_manifest(paths.prepared))
    assert pairs[["held", "copy", "kind"]].values.tolist() == [[21, 30, "train~test"], [22, 31, "val~test"]]


def test_audit_drops_leaks_from_training_and_reports_them(tmp_path: Path, faces: np.ndarray) -> None:
    paths = _prepared(tmp_path, faces, extra_copy_of_test=True)
    audit_stage.run(params_of(audit={"policy": "drop_from_train"}), paths)
    report = json.loads((paths.details / "audit.json").read_text())
    assert report["exact"]["train~test"]["held_images"] == 1
    assert report["near"]["train~test"]["held_images"] == 1
    assert report["near"]["extra~heldout"]["copies"] == 1  # the augmented extra source leaks
    assert report["exact"]["val~test"]["held_images"] == 1
    assert report["test_images_with_copies"] == 3 and report["dropped"] == 3
    assert report["leaky_protocol"] is False and report["deliberate_leaks"] == []
    audited = load_manifest(paths.audited)
    assert len(audited) == 30 and (audited["source"] != "augmented").all()
    assert "val" not in set(audited["split"])
    assert (paths.metrics / "audit_pairs.png").read_bytes()[:4] == b"\x89PNG"


def test_audit_policy_fail_stops_the_pipeline(tmp_path: Path, faces: np.ndarray) -> None:
    paths = _prepared(tmp_path, faces, extra_copy_of_test=True)
    with pytest.raises(ValueError, match="3 validation/test images have copies in training or validation"):
        audit_stage.run(params_of(audit={"policy": "fail"}), paths)
    assert (paths.details / "audit.json").exists() and not paths.audited.exists()


def test_audit_policy_keep_leaves_the_leaks_in_and_flags_the_run(
    tmp_path: Path, faces: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _prepared(tmp_path, faces, extra_copy_of_test=True)
    audit_stage.run(params_of(audit={"policy": "keep"}), paths)
    report = json.loads((paths.details / "audit.json").read_text())
    assert report["test_images_with_copies"] == 3 and report["dropped"] == 0
    assert report["leaky_protocol"] is True and report["deliberate_leaks"][0].startswith("audit.policy=keep")
    assert len(load_manifest(paths.audited)) == len(load_manifest(paths.prepared))
    assert "LEAKY PROTOCOL" in capsys.readouterr().err
