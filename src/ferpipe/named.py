"""Named things that params choose by name (readers, fetch kinds, synthetic layouts, ensemble
methods, optimizers, schedules, models): one lookup style for all of them. Each table is filled
by a decorator beside the functions it names, and looking up an unknown name is one error that
lists what exists, so a params typo never ends in a KeyError."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T", bound=Callable[..., object])


class Registry(Generic[T]):
    """A table of functions by name, filled by ``@table.register("name")`` (or the function's own name)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def add(fn: T) -> T:
            key = name or fn.__name__
            if key in self._items:
                raise ValueError(f"{self.what} {key!r} is registered twice")
            self._items[key] = fn
            return fn

        return add

    def __getitem__(self, name: str) -> T:
        if name not in self._items:
            raise ValueError(f"unknown {self.what} {name!r}; choose one of {', '.join(sorted(self._items))}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)
