"""The origin's check that a database's workspace may still run queries (the edge checks first; this
is the line for requests that reach the origin anyway: an isolate that has not heard yet, a push
that failed, and the misses and writes of a workspace that serves cache hits only).

Answers are kept `ttl` seconds per database and dropped at once when any origin records a change
(LISTEN breakwater_limits).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from bwcontract.codes import Code
from bwcontract.usage import OK

from ..caller import Caller
from ..errors import BreakwaterError
from .evaluator import CHANNEL


class PlanLimitReached(BreakwaterError):
    code = Code.PLAN_LIMIT


_Answer = tuple[str, str, str]  # state, message, hint


class PlanGate:
    def __init__(self, pool: asyncpg.Pool, ttl: float = 2.0) -> None:
        self._pool = pool
        self._ttl = ttl
        self._known: dict[str, tuple[float, _Answer]] = {}
        self._asking: dict[str, asyncio.Future[_Answer]] = {}
        self._listener: asyncpg.Connection | None = None

    async def start(self, dsn: str) -> None:
        self._listener = await asyncpg.connect(dsn)
        await self._listener.add_listener(CHANNEL, self._changed)

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.close()

    def _changed(self, *_args: Any) -> None:
        self.forget()

    def forget(self) -> None:
        self._known.clear()
        self._asking.clear()

    async def admit(self, caller: Caller) -> None:
        """Refuse (P6003) when the caller's workspace is over its limit: the origin serves no cache
        hits, so a workspace serving cache hits only gets nothing here either."""
        state, message, hint = await self.state(caller.database_id)
        if state != OK:
            raise PlanLimitReached(message, hint=hint, meta={"state": state})

    async def state(self, database_id: str) -> _Answer:
        known = self._known.get(database_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        asking = self._asking.get(database_id)
        if asking is None:  # one control-plane read per database at a time
            asking = self._asking[database_id] = asyncio.ensure_future(self._read(database_id))

            def done(future: asyncio.Future[_Answer]) -> None:
                if self._asking.get(database_id) is future:
                    del self._asking[database_id]

            asking.add_done_callback(done)
        return await asyncio.shield(asking)

    async def _read(self, database_id: str) -> _Answer:
        asked = time.monotonic()
        row = await self._pool.fetchrow(
            "SELECT s.state, s.message, s.hint FROM databases d "
            "JOIN limit_states s ON s.workspace_id = d.workspace_id WHERE d.id = $1",
            database_id,
        )
        answer: _Answer = (row["state"], row["message"], row["hint"]) if row else (OK, "", "")
        if self._asking.get(database_id) is asyncio.current_task():  # not forgotten meanwhile
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[database_id] = (asked + self._ttl, answer)
        return answer
