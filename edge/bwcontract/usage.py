"""What the edge and the origin tell each other about use: cache hits the origin never sees, and the
plan-limit state of databases the edge must answer for.

Cache hits travel edge -> origin in batches (`HitBatch`, to `wire.USAGE_HITS_PATH`). A batch is
counted exactly once: its sender keeps it, under the same id, until the origin has answered that it
counted it; the origin remembers the ids it counted, so a batch sent again after a crash or a lost
answer is acknowledged and not counted twice. A batch holds per (database, UTC day, kind, shape) the
number of answers and their bytes.

Plan-limit states travel origin -> edge (`PlanLimit`, to `wire.PLAN_LIMITS_PATH`): a database whose
workspace is over its limit is `cache_only` (cache hits are served, everything that needs the
database is refused) or `stopped` (every query is refused); `ok` lifts it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HIT = "hit"  # a fresh cache entry (accelerate-cache-status: ttl)
STALE = "stale"  # a stale entry served while it is refreshed (swr)
SHARED = "shared"  # a miss that shared another request's origin answer (coalesced): the database's work
KINDS = (HIT, STALE, SHARED)
CACHE_KINDS = (HIT, STALE)  # counted as cache hits; SHARED counts as a database operation

OK = "ok"
CACHE_ONLY = "cache_only"
STOPPED = "stopped"
LIMIT_STATES = (OK, CACHE_ONLY, STOPPED)

MAX_COUNTS = 100_000  # lines of one batch: a batch is per isolate and per flush, never near this
_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{0,64}$")


class InvalidUsage(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class HitCount:
    database_id: str
    day: str  # YYYY-MM-DD (UTC) when they were served
    kind: str  # HIT | STALE | SHARED
    shape: str  # the shape id the origin gave the cached answer ("" when it gave none)
    count: int
    bytes: int  # response bytes sent, all of them together

    def as_list(self) -> list[Any]:
        return [self.database_id, self.day, self.kind, self.shape, self.count, self.bytes]


@dataclass(frozen=True)
class HitBatch:
    id: str
    counts: tuple[HitCount, ...]

    def to_json(self) -> bytes:
        return json.dumps(
            {"id": self.id, "counts": [c.as_list() for c in self.counts]}, separators=(",", ":")
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> HitBatch:
        try:
            data = json.loads(raw)
            batch_id, rows = data["id"], data["counts"]
        except (ValueError, TypeError, KeyError):
            raise InvalidUsage(
                'a hit batch is {"id", "counts": [[database, day, kind, shape, n, bytes]]}'
            ) from None
        if not isinstance(batch_id, str) or not _ID.match(batch_id):
            raise InvalidUsage("a batch id is 1-100 letters, digits, '.', '_' or '-'")
        if not isinstance(rows, list) or len(rows) > MAX_COUNTS:
            raise InvalidUsage(f"`counts` is a list of at most {MAX_COUNTS} rows")
        return cls(batch_id, tuple(_count(row) for row in rows))


def _count(row: Any) -> HitCount:
    if not isinstance(row, list) or len(row) != 6:
        raise InvalidUsage("a count is [database, day, kind, shape, n, bytes]")
    database_id, day, kind, shape, count, size = row
    if not (isinstance(database_id, str) and _NAME.match(database_id) and database_id):
        raise InvalidUsage("a count's database is an id")
    if not (isinstance(day, str) and _DAY.match(day)):
        raise InvalidUsage("a count's day is YYYY-MM-DD")
    if kind not in KINDS:
        raise InvalidUsage(f"a count's kind is one of {', '.join(KINDS)}")
    if not (isinstance(shape, str) and _NAME.match(shape)):
        raise InvalidUsage("a count's shape is an id or empty")
    for value in (count, size):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**62:
            raise InvalidUsage("a count's n and bytes are whole numbers")
    return HitCount(database_id, day, kind, shape, count, size)


@dataclass(frozen=True)
class PlanLimit:
    """A database's plan-limit state, with the answer its refused requests get (P6003)."""

    database_id: str
    state: str  # OK | CACHE_ONLY | STOPPED
    message: str = ""
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "database_id": self.database_id,
            "state": self.state,
            "message": self.message,
            "hint": self.hint,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PlanLimit:
        if not isinstance(data, dict):
            raise InvalidUsage("a limit is {database_id, state, message, hint}")
        database_id, state = data.get("database_id"), data.get("state")
        message, hint = data.get("message", ""), data.get("hint", "")
        if not (isinstance(database_id, str) and _NAME.match(database_id) and database_id):
            raise InvalidUsage("a limit's database_id is an id")
        if state not in LIMIT_STATES:
            raise InvalidUsage(f"a limit's state is one of {', '.join(LIMIT_STATES)}")
        if not (isinstance(message, str) and isinstance(hint, str)):
            raise InvalidUsage("a limit's message and hint are text")
        return cls(database_id, state, message[:2000], hint[:2000])


def limits_to_json(limits: Iterable[PlanLimit]) -> bytes:
    return json.dumps({"limits": [limit.as_dict() for limit in limits]}, separators=(",", ":")).encode()


def limits_from_json(raw: bytes) -> list[PlanLimit]:
    try:
        rows = json.loads(raw)["limits"]
    except (ValueError, TypeError, KeyError):
        raise InvalidUsage('expected {"limits": [{database_id, state, message, hint}]}') from None
    if not isinstance(rows, list) or len(rows) > MAX_COUNTS:
        raise InvalidUsage("`limits` is a list")
    return [PlanLimit.from_dict(row) for row in rows]
