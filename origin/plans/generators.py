"""Values a plan asks the server to generate (`{"prisma__type": "generatorCall", …}`): the defaults of a
Prisma schema (`now()`, `uuid()`, `cuid()`, `nanoid()`, `ulid()`) and `product`, the cartesian product
that fills a many-to-many link table.

`now` is fixed once per request, so every `@default(now())` and `@updatedAt` of one operation agree.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .errors import UnsupportedPlan

_BASE36 = string.digits + string.ascii_lowercase
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NANOID = string.ascii_letters + string.digits + "_-"


def iso_now(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _base36(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits)).rjust(width, "0")[-width:]


class _Cuid:
    """Collision-resistant ids in the cuid (v1) layout: c + time + counter + host + random, base 36."""

    def __init__(self) -> None:
        self._counter = secrets.randbelow(36**4)
        self._lock = threading.Lock()
        host = sum(os.uname().nodename.encode()) + os.getpid()
        self._fingerprint = _base36(os.getpid(), 2) + _base36(host, 2)

    def v1(self) -> str:
        with self._lock:
            self._counter = (self._counter + 1) % 36**4
            counter = self._counter
        return (
            "c"
            + _base36(int(time.time() * 1000), 8)
            + _base36(counter, 4)
            + self._fingerprint
            + _base36(secrets.randbits(42), 8)
        )

    @staticmethod
    def v2(length: int = 24) -> str:
        # cuid2: a letter, then base-36 characters from a cryptographic source.
        first = secrets.choice(string.ascii_lowercase)
        rest = "".join(secrets.choice(_BASE36) for _ in range(max(length, 2) - 1))
        return first + rest


_cuid = _Cuid()


def _uuid(args: list[Any]) -> str:
    version = int(args[0]) if args else 4
    if version == 4:
        return str(uuid.uuid4())
    if version == 7:
        millis = int(time.time() * 1000)
        value = (
            (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
        )
        return str(uuid.UUID(int=value))
    raise UnsupportedPlan(f"uuid({version}) is not supported; Prisma schemas use uuid(4) or uuid(7).")


def _cuid_call(args: list[Any]) -> str:
    version = int(args[0]) if args else 1
    return _cuid.v1() if version == 1 else _cuid.v2()


def _ulid(_args: list[Any]) -> str:
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))


def _nanoid(args: list[Any]) -> str:
    length = int(args[0]) if args else 21
    return "".join(secrets.choice(_NANOID) for _ in range(length))


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
            "cuid": _cuid_call,
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
