"""Connections to tenant databases: one asyncpg pool per database, opened on first use.

Every front borrows connections through `connection()` (one query or operation) or `lease()` (held
across requests, for interactive transactions); how pools are sized, woken and closed lives here only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from .control.store import ControlStore
from .errors import BreakwaterError, Unauthorized


class PoolTimeout(BreakwaterError):
    """No connection became free in time (Prisma's pool timeout)."""

    status = 503
    code = "P2024"


@dataclass
class Lease:
    """A connection held beyond one request; `release()` must be called exactly once."""

    conn: asyncpg.Connection
    _pool: asyncpg.Pool

    async def release(self) -> None:
        # Shielded: a cancelled caller must not leak the connection.
        await asyncio.shield(self._pool.release(self.conn))


class Tenants:
    def __init__(self, store: ControlStore, max_size: int = 10, acquire_timeout: float = 10.0) -> None:
        self._store = store
        self._max_size = max_size
        self._acquire_timeout = acquire_timeout
        self._pools: dict[str, asyncpg.Pool] = {}
        self._opening: dict[str, asyncio.Lock] = {}

    async def _pool(self, database_id: str) -> asyncpg.Pool:
        found = self._pools.get(database_id)
        if found is not None:
            return found
        lock = self._opening.setdefault(database_id, asyncio.Lock())
        async with lock:
            if database_id in self._pools:
                return self._pools[database_id]
            db = await self._store.database_by_id(database_id)
            if db is None:
                raise Unauthorized("API key is invalid: its database no longer exists.")
            pool = await asyncpg.create_pool(db.dsn, min_size=0, max_size=self._max_size)
            self._pools[database_id] = pool
            return pool

    async def lease(self, database_id: str, timeout: float | None = None) -> Lease:
        pool = await self._pool(database_id)
        wait = self._acquire_timeout if timeout is None else timeout
        try:
            conn = await pool.acquire(timeout=wait)
        except TimeoutError:
            raise PoolTimeout(
                f"Timed out fetching a new connection from the connection pool (waited {wait:g}s).",
                hint="Retry, or raise the database's connection limit.",
            ) from None
        return Lease(conn, pool)

    @contextlib.asynccontextmanager
    async def connection(
        self, database_id: str, timeout: float | None = None
    ) -> AsyncIterator[asyncpg.Connection]:
        lease = await self.lease(database_id, timeout)
        try:
            yield lease.conn
        finally:
            await lease.release()

    async def forget(self, database_id: str) -> None:
        pool = self._pools.pop(database_id, None)
        if pool is not None:
            await pool.close()

    async def close(self) -> None:
        for database_id in list(self._pools):
            await self.forget(database_id)
