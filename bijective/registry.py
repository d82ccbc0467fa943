"""Named entries, registered once: the mechanism behind the catalogue of models, data sets
and targets (bijective.catalogue). An entry says how to build the thing, which experiment
kinds use it, and which of its builder's arguments the data supply rather than a config."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    """`build(**supplied, **options)` makes the thing; `options` are the builder's other
    keyword arguments (a config's fields), with their type hints and defaults."""

    name: str
    build: Callable[..., Any]
    kinds: tuple[str, ...]
    from_data: tuple[str, ...] = ()
    description: str = ""

    def parameters(self) -> list[inspect.Parameter]:
        """The builder's parameters a config sets (the supplied ones left out)."""
        signature = inspect.signature(self.build)
        return [p for p in signature.parameters.values() if p.name not in self.from_data]

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters())

    def hints(self) -> dict[str, Any]:
        """The builder's resolved type hints (through functools.partial and classes)."""
        target = getattr(self.build, "func", self.build)
        return typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)


class Registry:
    """Entries by name; `what` names them in errors ("architecture", "data set")."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, Entry] = {}

    def add(
        self,
        name: str,
        build: Callable[..., Any],
        kinds: tuple[str, ...],
        from_data: tuple[str, ...] = (),
        description: str = "",
    ) -> Entry:
        """Registers `build` under `name` (a name is registered once)."""
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is registered already")
        entry = Entry(name, build, kinds, from_data, description or _first_line(build))
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        del self._entries[name]

    def __getitem__(self, name: str) -> Entry:
        if name not in self._entries:
            raise ValueError(f"unknown {self.what} {name!r}; allowed: {', '.join(self)}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())


def _first_line(build: Callable[..., Any]) -> str:
    doc = inspect.getdoc(getattr(build, "func", build)) or ""
    return doc.split("\n\n")[0].replace("\n", " ")
