"""Remote source kinds: ``url`` (HTTP(S) with sha256, resume, retries, progress) and ``kaggle``."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from tqdm import tqdm

from ferpipe.sources.local import materialise_path

if TYPE_CHECKING:
    from ferpipe.schema import ArchiveLimits

CHUNK = 1 << 16  # small enough that a broken connection loses little of what arrived


class DownloadError(ValueError):
    """A download that could not be completed or verified; the message names the URL."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, sha256: str | None = None, retries: int = 3, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``target``, resuming a partial ``target.part`` with an HTTP Range request.

    A broken connection is retried (with backoff) from where it stopped; a finished file whose
    sha256 differs from the expected one is deleted and reported, never used.
    """
    import requests

    partial = target.with_name(target.name + ".part")
    for attempt in range(1, retries + 1):
        have = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
                if response.status_code == 416:  # nothing left to send: the part is complete
                    break
                response.raise_for_status()
                if have and response.status_code != 206:
                    have = 0  # the server ignored the range: start over
                total = int(response.headers.get("Content-Length", 0)) + have
                with (
                    open(partial, "ab" if have else "wb") as out,
                    tqdm(
                        total=total or None,
                        initial=have,
                        unit="B",
                        unit_scale=True,
                        desc=target.name,
                        leave=False,
                        disable=None,
                    ) as bar,
                ):
                    for block in response.iter_content(CHUNK):
                        out.write(block)
                        bar.update(len(block))
                if total and partial.stat().st_size < total:
                    raise requests.ConnectionError(f"connection closed at {partial.stat().st_size} of {total} bytes")
            break
        except requests.RequestException as exc:
            if attempt == retries:
                raise DownloadError(f"{url}: download failed after {retries} tries: {exc}") from exc
            print(f"{url}: {exc}; retrying ({attempt}/{retries})", flush=True)
            time.sleep(min(2**attempt, 10) * 0.1)
    if sha256:
        actual = sha256_of(partial)
        if actual != sha256.lower():
            partial.unlink()
            raise DownloadError(f"{url}: sha256 is {actual}, expected {sha256}; the file was deleted")
    os.replace(partial, target)
    return target


def materialise_url(dest: Path, url: str, cache: Path, limits: ArchiveLimits, check: UrlCheck | None = None) -> int:
    """The ``url`` kind (and a ``location`` naming a URL): download (into a cache that survives a
    failed stage, for resuming), then copy or unpack like a local path."""
    check = check or UrlCheck()
    name = Path(urlparse(url).path).name or "download"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / name
    if not (target.exists() and check.sha256 and sha256_of(target) == check.sha256.lower()):
        download(url, target, check.sha256, check.retries, check.timeout)
    return materialise_path(dest, target, cache, limits)


@dataclass(frozen=True)
class UrlCheck:
    """How a download is checked and retried: the ``url`` kind's ``sha256``, ``retries`` and ``timeout``."""

    sha256: str | None = None
    retries: int = 3
    timeout: float = 30.0


KAGGLE_ENV = ("KAGGLE_USERNAME", "KAGGLE_KEY")


def kaggle_credentials_present() -> bool:
    """Credentials in the environment or in ``~/.kaggle/kaggle.json`` (never read into logs)."""
    return all(os.environ.get(k) for k in KAGGLE_ENV) or (Path.home() / ".kaggle" / "kaggle.json").exists()


def materialise_kaggle(dest: Path, dataset: str, limits: ArchiveLimits) -> int:
    """The ``kaggle`` kind (and a ``location`` naming ``kaggle:owner/name``): a Kaggle dataset through kagglehub."""
    if not kaggle_credentials_present():
        raise ValueError(
            "kaggle source: no credentials; set KAGGLE_USERNAME and KAGGLE_KEY or create ~/.kaggle/kaggle.json"
        )
    try:
        import kagglehub
    except ImportError as exc:
        raise ValueError("kaggle source: needs the kagglehub package (pip install -e '.[kaggle]')") from exc
    folder = Path(kagglehub.dataset_download(dataset))
    return materialise_path(dest, folder, folder.parent, limits)
