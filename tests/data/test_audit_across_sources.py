"""The leakage audit across the newer formats: FER+ and FER2013 are the same images, and a RAF-DB or
AffectNet copy of a test face used as extra data never reaches training."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from ferpipe.config import Paths
from ferpipe.data.dataset import load_manifest, save_prepared
from ferpipe.data.prepare import prepare
from ferpipe.readers.formats.read_affectnet import IMAGES_FOLDER
from ferpipe.readers.registry import read_source
from ferpipe.sources import materialise
from ferpipe.stages import audit as audit_stage
from tests.conftest import fetch_of, params_of, prepare_of, read_of, sources_of

USAGE_MAP = {"Training": "train", "PublicTest": "val", "PrivateTest": "test", "train": "train", "training": "train"}


def _raw(raw: Path) -> None:
    fer = {"layout": "fer2013_csv", "seed": 4, "counts": {"Training": 120, "PublicTest": 40, "PrivateTest": 40}}
    materialise("fer2013", fetch_of({"kind": "synthetic", **fer, "votes": True, "duplicates": 0, "blank": 0}), raw, raw)
    materialise(
        "rafdb", fetch_of({"kind": "synthetic", "layout": "rafdb", "seed": 5, "counts": {"train": 30}}), raw, raw
    )
    counts = {"training": 30, "validation": 0}
    materialise(
        "affectnet", fetch_of({"kind": "synthetic", "layout": "affectnet", "seed": 6, "counts": counts}), raw, raw
    )


def _plant_copies(raw: Path, faces: list[np.ndarray]) -> None:
    """One test face as a RAF-DB aligned image (re-encoded as JPEG, upscaled to 100x100), another in
    a larger AffectNet picture with its face box around it."""
    aligned = raw / "rafdb" / "basic" / "Image" / "aligned"
    Image.fromarray(faces[0]).resize((100, 100)).convert("RGB").save(aligned / "train_99999_aligned.jpg", quality=95)
    with open(raw / "rafdb" / "basic" / "EmoLabel" / "list_patition_label.txt", "a") as handle:
        handle.write("train_99999.jpg 4\n")
    picture = np.full((200, 160, 3), 40, np.uint8)
    picture[50:146, 30:126] = np.asarray(Image.fromarray(faces[1]).resize((96, 96)).convert("RGB"))
    planted = raw / "affectnet" / IMAGES_FOLDER / "Planted"
    planted.mkdir(parents=True)
    Image.fromarray(picture).save(planted / "copy.png")
    with open(raw / "affectnet" / "training.csv", "a", newline="") as handle:
        csv.writer(handle).writerow(["Planted/copy.png", 30, 50, 96, 96, "", 1, 0.5, 0.2])


def test_extra_sources_of_every_new_format_never_carry_a_test_image_into_training(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _raw(raw)
    ferplus = {"format": "fer2013_csv", "role": "primary", "votes": True}
    base = read_source(raw / "fer2013", read_of("fer2013_csv", **ferplus))
    tests = [image for image, usage in zip(base.images, base.usages, strict=True) if usage == "PrivateTest"]
    _plant_copies(raw, tests[:2])
    (raw / "fer2013_original").symlink_to(raw / "fer2013")  # FER2013's own labels over the same pixels
    sources = {
        "fer2013": {"read": ferplus},
        "fer2013_original": {"read": {"format": "fer2013_csv", "role": "extra"}},
        "rafdb": {"read": {"format": "rafdb", "role": "extra"}},
        "affectnet": {"read": {"format": "affectnet", "role": "extra"}},
    }
    result = prepare(sources_of(sources), raw, prepare_of({"usage_map": USAGE_MAP, "val_fraction": 0.0, "seed": 0}))
    paths = Paths(tmp_path)
    save_prepared(paths.prepared, result.images, result.manifest)

    audit_stage.run(params_of(audit={"policy": "drop_from_train"}), paths)

    kept = load_manifest(paths.audited)
    held_out = result.manifest["split"].isin(["val", "test"]) & (result.manifest["source"] == "fer2013")
    original = result.manifest[result.manifest["source"] == "fer2013_original"]
    assert held_out.sum() > 0 and len(original) > 0
    # every FER2013 row whose image FER+ holds out is gone from training; the rest of it stays
    copies_of_held_out = original["row"].isin(result.manifest.loc[held_out, "row"])
    assert copies_of_held_out.sum() == held_out.sum()
    kept_original = kept[kept["source"] == "fer2013_original"]
    assert not kept_original["row"].isin(result.manifest.loc[held_out, "row"]).any()
    assert len(kept_original) == len(original) - held_out.sum()
    # the planted RAF-DB and AffectNet copies are found (re-encoded, rescaled) and dropped
    assert "basic/Image/aligned/train_99999_aligned.jpg" not in set(kept["file"])
    assert not ((kept["source"] == "affectnet") & (kept["file"].str.contains("Planted"))).any()
    assert (kept["source"] == "rafdb").sum() == (result.manifest["source"] == "rafdb").sum() - 1
    assert (kept["source"] == "affectnet").sum() == (result.manifest["source"] == "affectnet").sum() - 1
