"""Databases whose line at the origin is full, answered at the edge for a moment.

When the origin refuses a request because its database already has as many requests waiting as its
limit allows (BW1429), more of that database's requests would only be refused too. For up to
`HOLD_SECONDS` (or the origin's Retry-After, if shorter) the edge gives them the same answer itself,
so a flooding tenant's excess costs the edge a key check and nothing more, and never reaches the
origin (whose event loop every tenant shares). Work that needs no new connection (operations inside
an open transaction) still goes through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bwcontract.codes import Code

from .http import EdgeResponse
from .ports import Clock
from .routes import Route

LINE_FULL = Code.TOO_MANY_WAITING
HOLD_SECONDS = 1.0
_KEEP = 10_000  # databases remembered at once; past that the oldest notes go first


@dataclass(frozen=True)
class _Held:
    until: float
    response: EdgeResponse


class FullLines:
    def __init__(self, clock: Clock, hold_seconds: float = HOLD_SECONDS) -> None:
        self._clock = clock
        self._hold = hold_seconds
        self._held: dict[tuple[str, str, str], _Held] = {}

    @staticmethod
    def _needs_a_connection(route: Route) -> bool:
        return route.tx_id is None and route.kind in ("query", "tx_start")

    def answer(self, database_id: str, route: Route) -> EdgeResponse | None:
        """The origin's last "line full" answer for this database and protocol, while it holds."""
        if not self._held or not self._needs_a_connection(route):
            return None
        key = (database_id, route.protocol, route.kind)
        held = self._held.get(key)
        if held is None:
            return None
        left = held.until - self._clock()
        if left <= 0:
            del self._held[key]
            return None
        headers = held.response.headers.copy()
        headers["retry-after"] = str(max(1, math.ceil(left)))
        return EdgeResponse(held.response.status, headers, held.response.body)

    def note(self, database_id: str, route: Route, response: EdgeResponse) -> None:
        if response.headers.get("prisma-error-code") != LINE_FULL or not self._needs_a_connection(route):
            return
        try:
            retry_after = float(response.headers.get("retry-after") or self._hold)
        except ValueError:
            retry_after = self._hold
        if len(self._held) >= _KEEP:
            del self._held[next(iter(self._held))]
        key = (database_id, route.protocol, route.kind)
        self._held[key] = _Held(self._clock() + min(self._hold, max(0.0, retry_after)), response)
