"""The leakage audit: exact and near duplicates within training and across splits and sources.

Exact copies are found by the SHA-1 of the pixels. Near copies (re-encoded, slightly shifted
in grey level, mirrored) by a flip-invariant perceptual hash: the sign pattern of the low
DCT frequencies of a 32x32 thumbnail, compared by Hamming distance against both the image and
its mirror. Every candidate pair is confirmed by its pixel RMSE, so the report says how close
the images really are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from scipy.fft import dctn

from ferpipe.data.dataset import CROSS
from ferpipe.io import atomic_path

HASH_SIZE = 8  # 8x8 low frequencies, DC dropped: 63 bits


def perceptual_hash(images: np.ndarray) -> np.ndarray:
    """64-bit DCT hashes (uint64) of uint8 images (n, h, w)."""
    thumbs = (
        np.stack(
            [
                np.asarray(Image.fromarray(img).resize((32, 32), Image.Resampling.BOX), dtype=np.float32)
                for img in images
            ]
        )
        if len(images)
        else np.zeros((0, 32, 32), np.float32)
    )
    low = dctn(thumbs, axes=(1, 2), norm="ortho")[:, :HASH_SIZE, :HASH_SIZE].reshape(len(images), -1)[:, 1:]
    bits = low > np.median(low, axis=1, keepdims=True)
    weights = np.left_shift(np.uint64(1), np.arange(bits.shape[1], dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def flip_hashes(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the images and of their mirrors."""
    return perceptual_hash(images), perceptual_hash(images[:, :, ::-1].copy())


def near_pairs(
    query: np.ndarray, query_flipped: np.ndarray, pool: np.ndarray, max_distance: int, same_set: bool = False
) -> list[tuple[int, int, int]]:
    """(query index, pool index, distance) for every pair within ``max_distance`` bits.

    The distance is the smaller of image-to-image and mirror-to-image, so mirrored copies
    match. With ``same_set`` the query is the pool and each pair is reported once.
    """
    found: list[tuple[int, int, int]] = []
    for i in range(len(query)):
        distance = np.minimum(np.bitwise_count(pool ^ query[i]), np.bitwise_count(pool ^ query_flipped[i]))
        hits = np.flatnonzero(distance <= max_distance)
        found += [(i, int(j), int(distance[j])) for j in hits if not same_set or j > i]
    return found


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel RMSE in grey levels, against the image or its mirror, whichever is closer."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return float(min(np.sqrt(np.mean((a - b) ** 2)), np.sqrt(np.mean((a[:, ::-1] - b) ** 2))))


# (the split whose copy is dropped, the split whose copy is kept): test beats val beats train, and a
# test-only source's images (the cross split) are checked against training and validation alike
SPLIT_PAIRS = (("train", "val"), ("train", "test"), ("val", "test"), ("train", CROSS), ("val", CROSS))
PAIR_COLUMNS = ["held", "copy", "distance", "kind"]


def _finish(frame: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    frame["copy_source"] = manifest["source"].to_numpy()[frame["copy"].to_numpy(dtype=int)]
    return frame


def audit_pairs(images: np.ndarray, manifest: pd.DataFrame, max_distance: int, max_rmse: float) -> pd.DataFrame:
    """Near-duplicate pairs that matter: training against validation/test, validation against
    test, and within training.

    ``held`` is the copy kept (the more held-out split), ``copy`` the one a policy drops. A pair
    is kept when its hash distance is within ``max_distance`` and its pixel RMSE within ``max_rmse``.
    """
    hashes, flipped = flip_hashes(images)
    split = manifest["split"].to_numpy()
    rows = []
    for low, high in SPLIT_PAIRS:
        pool, held = np.flatnonzero(split == low), np.flatnonzero(split == high)
        for i, j, d in near_pairs(hashes[held], flipped[held], hashes[pool], max_distance):
            rows.append((int(held[i]), int(pool[j]), d, f"{low}~{high}"))
    train = np.flatnonzero(split == "train")
    for i, j, d in near_pairs(hashes[train], flipped[train], hashes[train], max_distance, same_set=True):
        rows.append((int(train[i]), int(train[j]), d, "train~train"))
    frame = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    frame["rmse"] = [rmse(images[a], images[b]) for a, b in zip(frame["held"], frame["copy"], strict=True)]
    frame = frame[frame["rmse"] <= max_rmse]
    return _finish(frame.sort_values(["rmse", "held", "copy"]).reset_index(drop=True), manifest)


def exact_pairs(manifest: pd.DataFrame) -> pd.DataFrame:
    """Pairs of rows with identical pixels in two different splits (same ``held``/``copy`` sense)."""
    rows = []
    for _, group in manifest.groupby("sha1", sort=False):
        if group["split"].nunique() < 2:
            continue
        for low, high in SPLIT_PAIRS:
            lows, highs = group.index[group["split"] == low], group.index[group["split"] == high]
            rows += [(int(h), int(c), 0, f"{low}~{high}") for h in highs for c in lows]
    frame = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    frame["rmse"] = 0.0
    return _finish(frame, manifest)


def summarise(pairs: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, Any]:
    """Counts per kind (``train~test``: a training copy of a test image): pairs, distinct kept
    (``held``) images, distinct copies; plus copies that came from extra sources."""
    roles = manifest["role"].to_numpy()
    summary: dict[str, Any] = {}
    for exactness, part in (("exact", pairs[pairs["rmse"] == 0]), ("near", pairs[pairs["rmse"] > 0])):
        kinds: dict[str, Any] = {}
        for kind, group in part.groupby("kind"):
            kinds[kind] = {
                "pairs": len(group),
                "held_images": int(group["held"].nunique()),
                "copies": int(group["copy"].nunique()),
            }
        extra = part[(part["kind"] != "train~train") & (roles[part["copy"].to_numpy(dtype=int)] == "extra")]
        kinds["extra~heldout"] = {
            "pairs": len(extra),
            "copies": int(extra["copy"].nunique()),
        }
        summary[exactness] = kinds
    held_out = pairs[pairs["kind"] != "train~train"]
    for split in ("val", "test", *([CROSS] if (manifest["split"] == CROSS).any() else [])):
        summary[f"{split}_images_with_copies"] = int(
            held_out.loc[held_out["kind"].str.endswith(split), "held"].nunique()
        )
    return summary


def write_pairs_png(
    path: Path, images: np.ndarray, pairs: pd.DataFrame, manifest: pd.DataFrame, limit: int = 16
) -> None:
    """A grid of pairs (left: the image kept, right: its copy): the closest exact ones, then the
    closest near ones across splits, which are the ones worth a look."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    across = pairs[pairs["kind"] != "train~train"]
    shown = pd.concat([across[across["rmse"] == 0].head(limit // 2), across[across["rmse"] > 0].head(limit // 2)])
    fig, axes = plt.subplots(max(len(shown), 1), 2, figsize=(3.2, 1.6 * max(len(shown), 1)), squeeze=False)
    for row, (_, pair) in zip(axes, shown.iterrows(), strict=False):  # one empty row when no pairs
        for ax, index, side in ((row[0], pair["held"], "a"), (row[1], pair["copy"], "b")):
            ax.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            ax.set_title(
                f"{manifest.at[index, 'split']}:{manifest.at[index, 'label_name']}"
                + (f"\nrmse {pair['rmse']:.1f} d{pair['distance']}" if side == "b" else ""),
                fontsize=7,
            )
            ax.axis("off")
    if shown.empty:
        axes[0][0].text(0.5, 0.5, "no duplicates found", ha="center")
        for ax in axes[0]:
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
