"""Databases whose workspace reached its plan's or its spend limit, as the edge answers for them.

The origin pushes a database's state when it changes (`bwcontract.usage.PlanLimit`, as revocations
are pushed) into one strongly consistent place, the `PlanLimits` Durable Object; isolates keep
answers for `ttl` seconds, so raising a limit (or a new month) lifts it everywhere within seconds, and
at once in the isolate that took the push. `stopped`: every query and transaction is refused with
P6003 before the cache; `cache_only`: cache hits are served, and whatever would reach the origin is
refused the same way. Not operations, so never refused: commit and rollback of an open transaction,
schema uploads, connection info, invalidation, change streams and `GET /v1/usage`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bwcontract.codes import Code
from bwcontract.usage import OK, PlanLimit

from .http import EdgeResponse
from .ports import Clock, PlanLimitsPort, SqlStorage
from .routes import Route

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS plan_limits (database_id TEXT PRIMARY KEY, state TEXT NOT NULL, "
    "message TEXT NOT NULL, hint TEXT NOT NULL, changed_at REAL NOT NULL)",
)
# Route kinds that run operations (a transaction's commit and rollback are let through below).
_OPERATIONS = frozenset({"query", "tx_start", "tx_op"})


class PlanLimitStore:
    """The Durable Object's logic over its SQLite storage (one object, "global")."""

    def __init__(self, sql: SqlStorage, clock: Clock) -> None:
        self._sql = sql
        self._clock = clock
        for statement in SCHEMA:
            sql.exec(statement)

    def apply(self, limits: list[PlanLimit]) -> None:
        now = self._clock()
        for limit in limits:
            if limit.state == OK:
                self._sql.exec("DELETE FROM plan_limits WHERE database_id = ?", limit.database_id)
            else:
                self._sql.exec(
                    "INSERT OR REPLACE INTO plan_limits VALUES (?, ?, ?, ?, ?)",
                    limit.database_id,
                    limit.state,
                    limit.message,
                    limit.hint,
                    now,
                )

    def get(self, database_id: str) -> PlanLimit:
        rows = self._sql.exec(
            "SELECT state, message, hint FROM plan_limits WHERE database_id = ?", database_id
        )
        if not rows:
            return PlanLimit(database_id, OK)
        state, message, hint = rows[0]
        return PlanLimit(database_id, str(state), str(message), str(hint))


@dataclass(frozen=True)
class _Known:
    until: float
    limit: PlanLimit


class PlanLimitView:
    """Per-isolate cache in front of the Durable Object."""

    def __init__(self, port: PlanLimitsPort, clock: Clock, ttl: float, max_entries: int = 10_000) -> None:
        self._port = port
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._known: dict[str, _Known] = {}

    async def get(self, database_id: str) -> PlanLimit:
        now = self._clock()
        known = self._known.get(database_id)
        if known is not None and known.until > now:
            return known.limit
        limit = await self._port.get(database_id)
        if len(self._known) >= self._max_entries:
            self._known.clear()
        self._known[database_id] = _Known(now + self._ttl, limit)
        return limit

    def fresh(self, database_id: str) -> PlanLimit | None:
        """What this isolate knows and may still trust, without a coroutine (the hit path's check)."""
        known = self._known.get(database_id)
        return known.limit if known is not None and known.until > self._clock() else None

    def cached(self, database_id: str) -> PlanLimit | None:
        """What this isolate knows now, without asking (the miss path's second look)."""
        known = self._known.get(database_id)
        return known.limit if known is not None else None

    async def apply(self, limits: list[PlanLimit]) -> None:
        await self._port.apply(limits)
        for limit in limits:  # this isolate learns at once; others within `ttl`
            self._known.pop(limit.database_id, None)


def runs_operations(route: Route) -> bool:
    return route.kind in _OPERATIONS and route.tx_op not in ("commit", "rollback")


def refusal(limit: PlanLimit) -> EdgeResponse:
    """P6003 in a shape every client reads as a known error: Prisma 6 takes a non-2xx body with
    `is_panic`, `message` and `error_code`; Prisma 7 and ours take `code` and `message`."""
    code = Code.PLAN_LIMIT
    body = {
        "code": code.value,
        "message": limit.message or "This database's workspace reached a limit of its plan.",
        "is_panic": False,
        "error_code": code.value,
        "meta": {"state": limit.state},
    }
    if limit.hint:
        body["hint"] = limit.hint
    return EdgeResponse.json(code.status, body, {"Prisma-Error-Code": code.value})
