"""One registry type for every family with members (saliency methods, head-importance methods, clustering
methods, 2-D map methods, model reference schemes, report sections …).

A :class:`Registry` maps a name to a member and a title; an unknown name raises the family's error with a
"did you mean" hint and the list of valid names. Members register themselves when their module is imported
(the package's ``__init__`` imports them), so the registry module itself never imports its members.
"""
from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

from core.foundation.errors import BackboneLensError

T = TypeVar("T")


class Registry(Generic[T]):
    """name → member (with a human title), in registration order."""

    def __init__(self, what: str, *, error: type[Exception] = BackboneLensError) -> None:
        self.what = what
        self.error = error
        self._items: dict[str, T] = {}
        self._titles: dict[str, str] = {}

    def add(self, name: str, item: T, *, title: str | None = None, replace: bool = False) -> T:
        """Register ``item`` under ``name`` (a second registration of a name is a programming error)."""
        if name in self._items and not replace:
            raise ValueError(f"{self.what} {name!r} registered twice")
        self._items[name] = item
        self._titles[name] = title or name.replace("_", " ")
        return item

    def get(self, name: str) -> T:
        """The member ``name``; an unknown name raises ``error`` listing the valid ones."""
        key = str(name).strip()
        if key not in self._items:
            raise self.error(self.unknown_message(str(name)))
        return self._items[key]

    def unknown_message(self, name: str) -> str:
        hint = difflib.get_close_matches(name.strip(), list(self._items), n=1)
        return (f"Unknown {self.what} '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                + f"; choose one of: {', '.join(self._items)}.")

    def title(self, name: str) -> str:
        self.get(name)
        return self._titles[name]

    def titles(self) -> dict[str, str]:
        """name → title, in registration order (the one table CLI, pages and reports read)."""
        return dict(self._titles)

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def values(self) -> list[T]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


__all__ = ["Registry"]
