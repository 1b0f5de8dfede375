"""Named things that params choose by name (readers, fetch kinds, synthetic layouts, ensemble
methods, optimizers, schedules, models): one lookup style for all of them. Each table is filled
by a decorator beside the functions it names, and looking up an unknown name is one error that
lists what exists, so a params typo never ends in a KeyError.

A table backed by a package (models, reader formats) holds one file per name, named as params
name the thing and defining the function of that name: the file is imported on first lookup, so
declaring one means writing its file (nothing to register, no list to extend), and a stage that
looks one up depends on that file alone (dvc.yaml names it)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T", bound=Callable[..., object])


def file_names(folder: Path, prefix: str = "") -> list[str]:
    """The names a one-file-per-name package declares: its modules ``<prefix><name>.py`` (not
    ``__init__`` or private ones), without the prefix."""
    stems = (path.stem for path in folder.glob(f"{prefix}*.py") if not path.stem.startswith("_"))
    return sorted(stem.removeprefix(prefix) for stem in stems)


class Registry(Generic[T]):
    """A table of functions by name, filled by ``@table.register("name")`` (or the function's own name).

    With ``package``, each name is a module ``<prefix><name>`` of that package defining the function
    of the same name; the module is imported when the name is first looked up. (The reader formats
    take the prefix ``read_``: a file named after a data set, ``ckplus.py``, reads as the data set.)
    """

    def __init__(self, what: str, package: str | None = None, prefix: str = "") -> None:
        self.what = what
        self.package = package
        self.prefix = prefix
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def add(fn: T) -> T:
            key = name or fn.__name__
            if key in self._items:
                raise ValueError(f"{self.what} {key!r} is registered twice")
            self._items[key] = fn
            return fn

        return add

    @cached_property
    def folder(self) -> Path | None:
        """Where the package's one file per name lives (None for a table without a package)."""
        if self.package is None:
            return None
        spec = importlib.util.find_spec(self.package)
        assert spec is not None and spec.origin is not None, f"{self.package} is not a package"
        return Path(spec.origin).parent

    @cached_property
    def _declared(self) -> list[str]:
        """The package's names, listed once: every lookup and membership test asks."""
        return file_names(self.folder, self.prefix) if self.folder else []

    def __getitem__(self, name: str) -> T:
        if name not in self._items and name in self._declared:
            own = f"{self.prefix}{name}"
            fn = getattr(importlib.import_module(f"{self.package}.{own}"), own, None)
            if not callable(fn):
                raise ValueError(
                    f"{self.folder / own}.py defines no function {own!r}: a {self.what}'s file is named as it"
                )
            self._items[name] = fn
        if name not in self._items:
            where = f" (each is a file in {self.folder})" if self.package else ""
            raise ValueError(f"unknown {self.what} {name!r}; choose one of {', '.join(self.names())}{where}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._declared

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        return sorted({*self._items, *self._declared})
