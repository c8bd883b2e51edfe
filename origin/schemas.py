"""The schema model of each tenant database, introspected on first use and kept per process."""

from __future__ import annotations

import asyncio

import asyncpg

from .engine.introspect import introspect
from .engine.schema import Schema


class SchemaCache:
    def __init__(self) -> None:
        self._schemas: dict[str, Schema] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, database_id: str, conn: asyncpg.Connection, refresh: bool = False) -> Schema:
        if not refresh and database_id in self._schemas:
            return self._schemas[database_id]
        async with self._locks.setdefault(database_id, asyncio.Lock()):
            if refresh or database_id not in self._schemas:
                self._schemas[database_id] = await introspect(conn)
            return self._schemas[database_id]

    def forget(self, database_id: str) -> None:
        self._schemas.pop(database_id, None)
