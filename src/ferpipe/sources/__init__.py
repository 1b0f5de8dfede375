"""How raw data arrives: each source kind materialises one source into ``data/raw/<name>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferpipe.choices import FETCH_KINDS as KINDS
from ferpipe.io import atomic_dir
from ferpipe.sources.augmented_copy import materialise_augmented_copy
from ferpipe.sources.local import materialise_path
from ferpipe.sources.remote import materialise_kaggle, materialise_url
from ferpipe.sources.synthetic import materialise_synthetic


def materialise(name: str, fetch: dict[str, Any], raw_dir: Path, root: Path) -> int:
    """Materialise source ``name`` into ``raw_dir/name`` atomically; returns the number of items.

    Downloads are cached in ``<raw_dir>/../downloads/<name>`` (not a DVC output), so a failed
    or interrupted stage resumes its download instead of starting over.
    """
    kind = fetch.get("kind")
    if kind not in KINDS:
        raise ValueError(f"source {name!r}: unknown kind {kind!r}; choose one of {list(KINDS)}")
    with atomic_dir(raw_dir / name) as tmp:
        if kind == "synthetic":
            return materialise_synthetic(tmp, fetch)
        if kind == "url":
            return materialise_url(tmp, fetch, raw_dir.parent / "downloads" / name)
        if kind == "kaggle":
            return materialise_kaggle(tmp, fetch)
        if kind == "augmented_copy":
            return materialise_augmented_copy(tmp, fetch, root)
        if kind == "location":
            return materialise_location(tmp, fetch, raw_dir.parent / "downloads" / name, root)
        return materialise_path(tmp, fetch, root)


def materialise_location(dest: Path, fetch: dict[str, Any], cache: Path, root: Path) -> int:
    """The ``location`` kind: ``where`` names a Kaggle dataset (``kaggle:owner/name``), an http(s)
    URL or a local path, so switching between them is one setting; archive limits carry over."""
    where = str(fetch["where"])
    limits = {k: v for k, v in fetch.items() if k in ("max_bytes", "max_ratio")}
    if where.startswith("kaggle:"):
        return materialise_kaggle(dest, {**limits, "dataset": where.removeprefix("kaggle:")})
    if where.startswith(("http://", "https://")):
        return materialise_url(dest, {**limits, "url": where}, cache)
    return materialise_path(dest, {**limits, "path": where}, root)
