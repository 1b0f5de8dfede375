"""How raw data arrives: each source kind materialises one source into ``data/raw/<name>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferpipe.io import atomic_dir
from ferpipe.named import Registry
from ferpipe.sources.augmented_copy import materialise_augmented_copy
from ferpipe.sources.local import materialise_path
from ferpipe.sources.remote import materialise_kaggle, materialise_url
from ferpipe.sources.synthetic import materialise_synthetic

KINDS: Registry = Registry("fetch kind")


def materialise(name: str, fetch: dict[str, Any], raw_dir: Path, root: Path) -> int:
    """Materialise source ``name`` into ``raw_dir/name`` atomically; returns the number of items.

    Downloads are cached in ``<raw_dir>/../downloads/<name>`` (not a DVC output), so a failed
    or interrupted stage resumes its download instead of starting over.
    """
    try:
        fetcher = KINDS[fetch.get("kind")]
    except ValueError as exc:
        raise ValueError(f"source {name!r}: {exc}") from None
    with atomic_dir(raw_dir / name) as tmp:
        return fetcher(tmp, fetch, raw_dir.parent / "downloads" / name, root)


# Each kind takes (destination, fetch params, download cache, project root) and returns the items written.
KINDS.register("synthetic")(lambda dest, fetch, cache, root: materialise_synthetic(dest, fetch))
KINDS.register("url")(lambda dest, fetch, cache, root: materialise_url(dest, fetch, cache))
KINDS.register("kaggle")(lambda dest, fetch, cache, root: materialise_kaggle(dest, fetch))
KINDS.register("augmented_copy")(lambda dest, fetch, cache, root: materialise_augmented_copy(dest, fetch, root))
KINDS.register("path")(lambda dest, fetch, cache, root: materialise_path(dest, fetch, root))


@KINDS.register("location")
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
