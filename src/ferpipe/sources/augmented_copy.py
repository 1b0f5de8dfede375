"""The ``augmented_copy`` source kind: a FER2013 CSV rebuilt as an image folder plus augmented copies.

It rebuilds the shape of the "Extended & Augmented Google FER" set behind one published 94%
(../shared/GUIDE.md, section 4): every FER2013 image, the test images included, with augmented
copies, in class folders. Added as extra training data it carries the test images into
training; ferpipe's audit finds them, and only a leaky protocol (``audit.policy: keep``) lets
them stay.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from tqdm import tqdm

from ferpipe.data.augmentation import augmentation_pipeline
from ferpipe.readers.formats.read_fer2013_csv import read_fer2013_csv
from ferpipe.schema import Read
from ferpipe.sources.local import materialise_path

if TYPE_CHECKING:
    from ferpipe.schema import AugmentedCopyFetch


def materialise_augmented_copy(dest: Path, cfg: AugmentedCopyFetch, root: Path) -> int:
    """Write ``<label>/<n>.png`` for every row of ``cfg.path`` and ``copies`` augmented versions of each."""
    transform = augmentation_pipeline(cfg.seed or 0)
    with tempfile.TemporaryDirectory() as tmp:
        materialise_path(Path(tmp), cfg.path, root, cfg)  # the CSV, copied like a `path` source (its errors too)
        records = read_fer2013_csv(Path(tmp), Read(format="fer2013_csv"))
    for label in set(records.labels):
        (dest / label).mkdir(parents=True, exist_ok=True)
    rows = list(zip(records.images, records.labels, strict=True))
    for n, (image, label) in enumerate(tqdm(rows, desc="augmented copy", unit="img", leave=False, disable=None)):
        Image.fromarray(image).save(dest / label / f"{n:05d}.png")
        for k in range(cfg.copies or 1):
            Image.fromarray(transform(image=image)["image"]).save(dest / label / f"{n:05d}_aug{k}.png")
    return len(rows) * (1 + (cfg.copies or 1))
