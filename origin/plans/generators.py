"""Values a plan asks the server to generate (`{"prisma__type": "generatorCall", …}`): the defaults of a
Prisma schema (`now()`, `uuid()`, `cuid()`, `nanoid()`, `ulid()`) and `product`, the cartesian product
that fills a many-to-many link table.

`now` is fixed once per request, so every `@default(now())` and `@updatedAt` of one operation agree.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from ..engine import generators as ids
from .errors import UnsupportedPlan


def iso_now(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _uuid(args: list[Any]) -> str:
    version = int(args[0]) if args else 4
    if version not in (4, 7):
        raise UnsupportedPlan(f"uuid({version}) is not supported; Prisma schemas use uuid(4) or uuid(7).")
    return ids.generate("uuid", version)


def _cuid(args: list[Any]) -> str:
    return ids.generate("cuid", 2 if args and int(args[0]) == 2 else 1)


def _ulid(_args: list[Any]) -> str:
    return ids.ulid()


def _nanoid(args: list[Any]) -> str:
    return ids.generate("nanoid", int(args[0]) if args else 21)


def _product(args: list[Any]) -> list[list[Any]]:
    lists = [arg if isinstance(arg, list) else [arg] for arg in args]
    return [list(combo) for combo in itertools.product(*lists)]


class Generators:
    """The generators of one request (one `now` for all of it)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.UTC)
        self._table: dict[str, Callable[[list[Any]], Any]] = {
            "now": lambda _args: iso_now(self.now),
            "uuid": _uuid,
            "cuid": _cuid,
            "ulid": _ulid,
            "nanoid": _nanoid,
            "product": _product,
        }

    def call(self, name: str, args: list[Any]) -> Any:
        generate = self._table.get(name)
        if generate is None:
            raise UnsupportedPlan(
                f"The plan calls the generator `{name}`, which this server does not know.",
                meta={"generator": name},
            )
        return generate(args)


KNOWN = frozenset({"now", "uuid", "cuid", "ulid", "nanoid", "product"})
