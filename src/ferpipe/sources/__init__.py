"""How raw data arrives: each source kind materialises one source into ``data/raw/<name>``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.io import atomic_dir
from ferpipe.named import Registry
from ferpipe.sources.augmented_copy import materialise_augmented_copy
from ferpipe.sources.local import materialise_path
from ferpipe.sources.remote import UrlCheck, materialise_kaggle, materialise_url
from ferpipe.sources.synthetic import materialise_synthetic

if TYPE_CHECKING:
    from ferpipe.schema import Fetch, LocationFetch, UrlFetch

KINDS: Registry = Registry("fetch kind")


def materialise(name: str, fetch: Fetch, raw_dir: Path, root: Path) -> int:
    """Materialise source ``name`` into ``raw_dir/name`` atomically; returns the number of items.

    Downloads are cached in ``<raw_dir>/../downloads/<name>`` (not a DVC output), so a failed
    or interrupted stage resumes its download instead of starting over.
    """
    with atomic_dir(raw_dir / name) as tmp:
        return KINDS[fetch.kind](tmp, fetch, raw_dir.parent / "downloads" / name, root)


# Each kind takes (destination, its typed fetch section, download cache, project root) and returns the items written.
KINDS.register("synthetic")(lambda dest, fetch, cache, root: materialise_synthetic(dest, fetch))
KINDS.register("kaggle")(lambda dest, fetch, cache, root: materialise_kaggle(dest, fetch.dataset, fetch))
KINDS.register("augmented_copy")(lambda dest, fetch, cache, root: materialise_augmented_copy(dest, fetch, root))
KINDS.register("path")(lambda dest, fetch, cache, root: materialise_path(dest, fetch.path, root, fetch))


@KINDS.register("url")
def materialise_url_kind(dest: Path, fetch: UrlFetch, cache: Path, root: Path) -> int:
    """The ``url`` kind: its download checked by ``sha256`` and retried by ``retries`` and ``timeout``."""
    defaults = UrlCheck()
    retries = defaults.retries if fetch.retries is None else fetch.retries  # 0: one try, no retry
    check = UrlCheck(fetch.sha256, retries, defaults.timeout if fetch.timeout is None else fetch.timeout)
    return materialise_url(dest, fetch.url, cache, fetch, check)


@KINDS.register("location")
def materialise_location(dest: Path, fetch: LocationFetch, cache: Path, root: Path) -> int:
    """The ``location`` kind: ``where`` names a Kaggle dataset (``kaggle:owner/name``), an http(s)
    URL or a local path, so switching between them is one setting; archive limits carry over."""
    if fetch.where.startswith("kaggle:"):
        return materialise_kaggle(dest, fetch.where.removeprefix("kaggle:"), fetch)
    if fetch.where.startswith(("http://", "https://")):
        return materialise_url(dest, fetch.where, cache, fetch)
    return materialise_path(dest, fetch.where, root, fetch)
