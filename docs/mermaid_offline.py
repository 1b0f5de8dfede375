"""MkDocs hook: the site's diagrams render without internet.

Material for MkDocs fetches Mermaid from unpkg.com when a page holds a diagram, unless the page
already defines ``mermaid`` (squidfunk/mkdocs-material#7965), so a site built here and opened
offline showed the pipeline picture as its source text. This hook ships a pinned Mermaid as a
site asset: fetched once from the npm registry (which the build machines reach), checked against
the registry's published sha512 and cached in ``.cache/docs/``. A download that fails leaves the
build going with a line saying the diagram will come from unpkg when online; a tarball that fails
its checksum stops the build.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

VERSION = "11.17.2"  # Material asks unpkg for mermaid@11: the same major version
TARBALL = f"https://registry.npmjs.org/mermaid/-/mermaid-{VERSION}.tgz"
INTEGRITY = "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg=="
MEMBER = "package/dist/mermaid.min.js"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "docs" / f"mermaid-{VERSION}.min.js"
ASSET = "assets/javascripts/mermaid.min.js"

log = logging.getLogger("mkdocs.hooks.mermaid_offline")
_script: bytes | None = None


def script_from_tarball(tarball: bytes, integrity: str, source: str = TARBALL) -> bytes:
    """Mermaid's minified script out of its npm tarball (downloaded from ``source``, which errors
    name), once the tarball matches ``integrity``."""
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if digest != expected:
        raise ValueError(f"{source}: {algorithm} is {digest}, the registry published {expected}; not used")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        try:
            member = archive.extractfile(MEMBER)
        except KeyError:
            member = None
        if member is None:
            raise ValueError(f"{source}: no {MEMBER} in the tarball")
        return member.read()


def cached_script(cache: Path = CACHE, url: str = TARBALL, integrity: str = INTEGRITY) -> bytes | None:
    """The script from the cache, else downloaded and cached; ``None`` when it cannot be downloaded."""
    if cache.is_file():
        return cache.read_bytes()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            tarball = response.read()
    except (urllib.error.URLError, OSError) as error:
        log.info("Mermaid %s not fetched (%s): the diagrams load from unpkg.com when online", VERSION, error)
        return None
    script = script_from_tarball(tarball, integrity, url)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f".{cache.name}.tmp")
    partial.write_bytes(script)
    partial.replace(cache)
    return script


def on_config(config: Any) -> Any:
    global _script
    from mkdocs.config.config_options import ExtraScriptValue

    _script = cached_script()
    if _script is not None:  # loaded before Material's bundle looks for a global `mermaid`
        config.extra_javascript.append(ExtraScriptValue(ASSET))
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    if _script is not None:
        files.append(File.generated(config, ASSET, content=_script))
    return files
