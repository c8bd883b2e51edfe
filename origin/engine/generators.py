"""Values generated for `@default(uuid() | cuid() | nanoid() | ulid())`: by the engine (Prisma 6, /v1) and
for Prisma 7 plans' generator calls alike."""

from __future__ import annotations

import itertools
import os
import secrets
import time
import uuid

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_NANOID = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_counter = itertools.count(secrets.randbelow(36**4))


def _base36(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 36)
        digits.append(_BASE36[rem])
    return "".join(reversed(digits)).rjust(width, "0")[-width:]


_FINGERPRINT = _base36(os.getpid() * 1296 + secrets.randbelow(1296), 4)


def cuid() -> str:
    """A collision-resistant id in the cuid layout: c + time + counter + host + random (25 chars)."""
    millis = int(time.time() * 1000)
    return (
        "c"
        + _base36(millis, 8)
        + _base36(next(_counter) % 36**4, 4)
        + _FINGERPRINT
        + _base36(secrets.randbits(41), 8)
    )


def cuid2(length: int = 24) -> str:
    return secrets.choice(_BASE36[10:]) + "".join(secrets.choice(_BASE36) for _ in range(length - 1))


def ulid() -> str:
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def uuid7() -> str:
    millis = int(time.time() * 1000)
    rand = secrets.randbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    return str(uuid.UUID(int=value))


def generate(kind: str, version: int | None = None) -> str:
    if kind == "uuid":
        return uuid7() if version == 7 else str(uuid.uuid4())
    if kind == "cuid":
        return cuid2() if version == 2 else cuid()
    if kind == "nanoid":
        return "".join(secrets.choice(_NANOID) for _ in range(version or 21))
    if kind == "ulid":
        return ulid()
    raise ValueError(f"no generator {kind}")
