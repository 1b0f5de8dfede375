"""The docs site: reference pages written at build time, and a strict build (broken links fail)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from tests.conftest import REPO


def _hooks(name: str = "hooks") -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{name}", REPO / "docs" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page(path: str) -> SimpleNamespace:
    return SimpleNamespace(file=SimpleNamespace(src_path=path))


def test_each_marker_becomes_its_block_written_from_the_code() -> None:
    from ferpipe.report.params_reference import reference

    hooks = _hooks()
    text = hooks.on_page_markdown("# Params\n\n<!-- ferpipe:params -->\n\nafter\n", page=_page("p.md"))
    assert reference().rstrip("\n") in text and text.endswith("after\n") and "ferpipe:params" not in text
    cli = hooks.on_page_markdown("<!-- ferpipe:cli -->", page=_page("cli.md"))
    assert "## `ferpipe seeds`" in cli and "--collect" in cli
    from ferpipe.presets import recipes, results, seeds

    tables = {"results": results.results_table, "recipes": recipes.recipes_table, "seeds": seeds.seeds_table}
    for name, table in tables.items():
        assert hooks.on_page_markdown(f"<!-- ferpipe:{name} -->", page=_page("r.md")) == table(REPO).rstrip("\n")


def test_a_misspelt_marker_stops_the_build_naming_the_page() -> None:
    with pytest.raises(ValueError, match=r"how-to/x.md: no generated block 'parms' \(have: params, cli"):
        _hooks().on_page_markdown("<!-- ferpipe:parms -->", page=_page("how-to/x.md"))


def _npm_tarball(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzipped tarball laid out as npm's, and its integrity string as the registry publishes it."""
    import base64
    import hashlib
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    tarball = buffer.getvalue()
    return tarball, "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()


def test_mermaid_ships_from_a_checked_tarball_and_is_cached_once(tmp_path: Path) -> None:
    mermaid = _hooks("mermaid_offline")
    tarball, integrity = _npm_tarball({mermaid.MEMBER: b"var mermaid={};", "package/README.md": b"x"})
    (tmp_path / "m.tgz").write_bytes(tarball)
    cache = tmp_path / "cache" / "mermaid.min.js"
    url = (tmp_path / "m.tgz").as_uri()
    script = b"var mermaid={};"
    assert mermaid.cached_script(cache, url, integrity) == script and cache.read_bytes() == script
    (tmp_path / "m.tgz").unlink()  # the second build reads the cache, no download
    assert mermaid.cached_script(cache, url, integrity) == script


def test_a_tampered_or_wrong_tarball_stops_the_build_and_no_network_only_says_so(tmp_path: Path) -> None:
    mermaid = _hooks("mermaid_offline")
    tarball, integrity = _npm_tarball({mermaid.MEMBER: b"var mermaid={};"})
    with pytest.raises(ValueError, match="the registry published"):
        mermaid.script_from_tarball(tarball + b"!", integrity)
    other, other_integrity = _npm_tarball({"package/index.js": b""})
    with pytest.raises(ValueError, match=r"no package/dist/mermaid\.min\.js in the tarball"):
        mermaid.script_from_tarball(other, other_integrity)
    (tmp_path / "other.tgz").write_bytes(other)
    with pytest.raises(ValueError, match=r"other\.tgz: no package/dist"):  # the file it came from, named
        mermaid.cached_script(tmp_path / "c.js", (tmp_path / "other.tgz").as_uri(), other_integrity)
    cache = tmp_path / "mermaid.min.js"
    assert mermaid.cached_script(cache, (tmp_path / "absent.tgz").as_uri(), integrity) is None  # offline: unpkg later
    assert not cache.exists()


@pytest.mark.slow
def test_the_site_builds_strictly_with_its_reference_pages(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    params = (site / "reference" / "params" / "index.html").read_text()
    assert "models.&lt;name&gt;.ema" in params and "ferpipe:params" not in params
    assert "registry" in (site / "reference" / "api" / "index.html").read_text()
    pipeline = (site / "explanation" / "pipeline" / "index.html").read_text()
    assert 'class="mermaid"' in pipeline and "assets/javascripts/mermaid.min.js" in pipeline  # drawn offline
    assert (site / "assets" / "javascripts" / "mermaid.min.js").stat().st_size > 1_000_000
