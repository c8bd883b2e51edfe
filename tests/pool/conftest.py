"""Pool fixtures: real databases on the session's plain Postgres, and a control-store stand-in that
only maps database ids to their DSN and host (the pool reads nothing else from the control plane)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import pytest

from hosts.postgres import PostgresInstance
from origin.control.store import Database
from origin.pool.settings import PoolSettings
from origin.tenants import Tenants

_names = itertools.count(1)


@dataclass
class Directory:
    """database id → (DSN, host id), what `ControlStore.database_by_id` answers for the pool."""

    entries: dict[str, tuple[str, str]] = field(default_factory=dict)

    async def database_by_id(self, database_id: str) -> Database | None:
        if database_id not in self.entries:
            return None
        dsn, host = self.entries[database_id]
        return Database(database_id, "ws", database_id, host, "i", "shared", dsn, dt.datetime.now(dt.UTC))


@dataclass
class PoolWorld:
    postgres: PostgresInstance
    directory: Directory
    names: list[str]  # Postgres database names, one per database id in `ids`
    ids: list[str]

    def tenants(self, **settings: float) -> Tenants:
        return Tenants(self.directory, PoolSettings(**settings))  # type: ignore[arg-type]

    async def backends(self) -> int:
        """Client sessions open on the test databases right now, as Postgres sees them (an autovacuum
        worker visiting a fresh database is listed too, and is not the pool's)."""
        conn = await asyncpg.connect(self.postgres.dsn("postgres"))
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = ANY($1::text[]) AND backend_type = 'client backend'",
                    self.names,
                )
            )
        finally:
            await conn.close()


@pytest.fixture
async def world(postgres: PostgresInstance) -> AsyncIterator[PoolWorld]:
    """Three fresh databases on one host."""
    admin = await asyncpg.connect(postgres.dsn("postgres"))
    names = [f"pool_{os.getpid()}_{next(_names)}" for _ in range(3)]
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        directory = Directory({f"db{i}": (postgres.dsn(n), "h1") for i, n in enumerate(names)})
        yield PoolWorld(postgres, directory, names, list(directory.entries))
        for name in names:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
