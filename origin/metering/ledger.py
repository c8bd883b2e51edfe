"""Counting a delivered batch exactly once: its id is recorded in the same control-plane transaction
as everything the batch adds, so a batch delivered again (a crash after the count, an answer lost)
finds its id and adds nothing.

What a batch adds is up to the sinks: daily usage is the first (daily.py); query insights will be
another. Each sink writes inside the batch's transaction, so every sink counts a batch exactly when
the others do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import asyncpg

from bwcontract.usage import HitCount

from ..observe import Observation

# A journal that sat undelivered longer than this could be counted twice (its id forgotten).
KEEP_BATCH_IDS = dt.timedelta(days=35)


class Sink(Protocol):
    async def observed(self, conn: asyncpg.Connection, observations: Sequence[Observation]) -> None:
        """Add what an origin served (one journal segment's observations)."""
        ...

    async def hits(self, conn: asyncpg.Connection, counts: Sequence[HitCount]) -> None:
        """Add what the edge served from its cache (one hit batch)."""
        ...


class Ledger:
    def __init__(self, pool: asyncpg.Pool, pause_after_count: float = 0.0) -> None:
        self._pool = pool
        self.sinks: list[Sink] = []
        # Fault tests only: a pause between the count's commit and the answer to whoever delivered
        # it (a crash then makes the deliverer send the batch again).
        self._pause = pause_after_count

    async def observed(self, batch_id: str, source: str, observations: Sequence[Observation]) -> bool:
        """Count an origin's journal segment; False if it was counted before."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await _first_time(conn, batch_id, source):
                return False
            for sink in self.sinks:
                await sink.observed(conn, observations)
        await self._paused()
        return True

    async def hits(self, batch_id: str, counts: Sequence[HitCount]) -> bool:
        """Count an edge's hit batch; False if it was counted before."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await _first_time(conn, batch_id, "edge"):
                return False
            for sink in self.sinks:
                await sink.hits(conn, counts)
        await self._paused()
        return True

    async def _paused(self) -> None:
        if self._pause:
            await asyncio.sleep(self._pause)

    async def forget_old(self) -> int:
        """Drop batch ids older than KEEP_BATCH_IDS; how many."""
        status = await self._pool.execute(
            "DELETE FROM usage_batches WHERE counted_at < now() - $1::interval", KEEP_BATCH_IDS
        )
        return int(status.rsplit(" ", 1)[-1])


async def _first_time(conn: asyncpg.Connection, batch_id: str, source: str) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO usage_batches (id, source) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING 1",
        batch_id,
        source,
    )
    return inserted is not None
