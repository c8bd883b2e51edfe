"""Connections to tenant databases: one asyncpg pool per database, opened on first use."""

from __future__ import annotations

import asyncio

import asyncpg

from .control.store import ControlStore
from .errors import Unauthorized


class Tenants:
    def __init__(self, store: ControlStore, max_size: int = 10) -> None:
        self._store = store
        self._max_size = max_size
        self._pools: dict[str, asyncpg.Pool] = {}
        self._opening: dict[str, asyncio.Lock] = {}

    async def pool(self, database_id: str) -> asyncpg.Pool:
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

    async def forget(self, database_id: str) -> None:
        pool = self._pools.pop(database_id, None)
        if pool is not None:
            await pool.close()

    async def close(self) -> None:
        for database_id in list(self._pools):
            await self.forget(database_id)
