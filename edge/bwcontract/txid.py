"""Transaction ids name the origin process that holds the transaction, so the edge can route
every follow-up request of a transaction to that process (`<origin id>~<random>`)."""

from __future__ import annotations

import re
import secrets

_ORIGIN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
SEPARATOR = "~"


def make(origin_id: str) -> str:
    if not _ORIGIN_ID.match(origin_id):
        raise ValueError(f"invalid origin id {origin_id!r}")
    return f"{origin_id}{SEPARATOR}{secrets.token_hex(16)}"


def origin_of(tx_id: str) -> str | None:
    origin_id, sep, rest = tx_id.partition(SEPARATOR)
    if not sep or not rest or not _ORIGIN_ID.match(origin_id):
        return None
    return origin_id
