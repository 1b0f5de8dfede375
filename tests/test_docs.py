"""The docs site: reference pages written at build time, and a strict build (broken links fail)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from tests.conftest import REPO


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs" / "hooks.py")
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
