"""Where each bind parameter of a compiled statement comes from.

A compiled query never holds a value of the request it was compiled from: each `$n` names a source,
resolved against the request's leaves (see `fingerprint`), the results of earlier statements of the
same operation, or a generator (now(), uuid(), cuid()) when the operation runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from . import generators
from .fingerprint import Slot
from .values import Convert, datetime_param


class Env:
    """Per-execution state: leaves, the results of earlier steps, and one `now` for the operation."""

    __slots__ = ("bound", "leaves", "now")

    def __init__(self, leaves: list[Any]) -> None:
        self.leaves = leaves
        self.bound: dict[str, Any] = {}
        self.now: dt.datetime | None = None

    def moment(self) -> dt.datetime:
        if self.now is None:
            # Millisecond precision, as Prisma's DateTime.
            now = dt.datetime.now(dt.UTC)
            self.now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        return self.now


class Source:
    def get(self, env: Env) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Leaf(Source):
    index: int
    convert: Convert

    def get(self, env: Env) -> Any:
        return self.convert(env.leaves[self.index])


@dataclass(frozen=True)
class Const(Source):
    value: Any

    def get(self, env: Env) -> Any:
        return self.value


@dataclass(frozen=True)
class Template(Source):
    """A JSON value whose leaves are slots (a Json field's object): rebuilt, then converted."""

    tree: Any
    convert: Convert

    def get(self, env: Env) -> Any:
        return self.convert(_fill(self.tree, env.leaves))


@dataclass(frozen=True)
class Bound(Source):
    """A column of the single row an earlier step bound under `name`."""

    name: str
    column: str

    def get(self, env: Env) -> Any:
        row = env.bound.get(self.name)
        # A record that was not found binds NULL: what depends on it then finds nothing either.
        return None if row is None else row[self.column]


@dataclass(frozen=True)
class Generated(Source):
    kind: str  # now | uuid | cuid | nanoid | ulid
    native: str = ""
    version: int | None = None

    def get(self, env: Env) -> Any:
        if self.kind == "now":
            return datetime_param(env.moment(), self.native)
        return generators.generate(self.kind, self.version)


@dataclass(frozen=True)
class DistinctCount(Source):
    """How many of `criteria` differ, each a shape (the SQL it renders to) and its value sources:
    the criteria of a query's skeleton are placeholders, so which of them are alike is known only
    when the values are bound."""

    criteria: tuple[tuple[str, tuple[Source, ...]], ...]

    def get(self, env: Env) -> int:
        return len({(shape, _hashable(resolve(sources, env))) for shape, sources in self.criteria})


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_hashable(v) for v in value))
    return (type(value).__name__, value)


def _fill(tree: Any, leaves: list[Any]) -> Any:
    if isinstance(tree, Slot):
        return leaves[tree.index]
    if isinstance(tree, dict):
        # A tagged leaf ({"$type", "value": slot}) is rebuilt with its tag: inside a Json value it is
        # the user's own data, and must come back exactly as sent.
        return {k: _fill(v, leaves) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_fill(v, leaves) for v in tree]
    if isinstance(tree, tuple):  # a `take` inside a Json value: (negative, slot)
        return _fill(tree[1], leaves)
    return tree


def resolve(sources: tuple[Source, ...], env: Env) -> list[Any]:
    return [s.get(env) for s in sources]
