"""The one-file-per-name tables (models, reader formats): a name is declared by writing its file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ferpipe.models.registry import MODELS
from ferpipe.named import Registry
from ferpipe.readers.registry import READERS


@pytest.mark.parametrize("table", [MODELS, READERS], ids=["models", "readers"])
def test_every_file_defines_the_function_of_its_own_name(table: Registry) -> None:
    assert table.names(), "an empty table: the package was not found"
    for name in table.names():
        assert table[name].__name__ == table.prefix + name


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A throwaway package ``shapes``: one file per shape, each defining the function of its name (one does not)."""
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "__init__.py").write_text("")
    (tmp_path / "shapes" / "square.py").write_text("def square():\n    return 4\n")
    (tmp_path / "shapes" / "misnamed.py").write_text("def circle():\n    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield Registry("shape", package="shapes")
    for name in [m for m in sys.modules if m.startswith("shapes")]:
        del sys.modules[name]


def test_a_name_is_listed_without_importing_its_file_and_imported_on_first_lookup(package: Registry) -> None:
    assert package.names() == ["misnamed", "square"] and "square" in package
    assert "shapes.square" not in sys.modules
    assert package["square"]() == 4 and "shapes.square" in sys.modules


def test_a_file_without_the_function_of_its_name_and_an_unknown_name_are_errors_naming_the_files(
    package: Registry,
) -> None:
    with pytest.raises(ValueError, match=r"misnamed\.py defines no function 'misnamed': a shape's file is named as it"):
        package["misnamed"]
    with pytest.raises(ValueError, match=r"unknown shape 'triangle'; choose one of .*\(each is a file in .*shapes\)"):
        package["triangle"]
