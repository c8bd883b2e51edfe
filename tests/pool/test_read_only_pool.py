"""Read-only keys' connections (the database's read-only role) and the owner's share one limit per
database: a role at the limit takes the other's idle connection, a connection released while the
other role waits becomes one of its, and when both wait they end up with half each."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import asyncpg
import pytest

from hosts.postgres import PostgresInstance
from origin.control.store import Database
from origin.pool.settings import PoolSettings
from origin.tenants import Tenants


@dataclasses.dataclass
class TwoRoles:
    """db0 with a read-only DSN told apart by its application_name (one role is enough to count)."""

    dsn: str

    async def database_by_id(self, database_id: str) -> Database | None:
        return Database(
            database_id,
            "ws",
            database_id,
            "h1",
            "i",
            "shared",
            self.dsn,
            dt.datetime.now(dt.UTC),
            readonly_dsn=f"{self.dsn}?application_name=reader",
        )


@dataclasses.dataclass
class World:
    postgres: PostgresInstance
    dsn: str

    @property
    def database(self) -> str:
        return self.dsn.rsplit("/", 1)[1]


@pytest.fixture
def world(postgres: PostgresInstance, pg_database: str) -> World:
    return World(postgres, pg_database)


def tenants(world: World, limit: int) -> Tenants:
    return Tenants(TwoRoles(world.dsn), PoolSettings(per_database=limit, wait_seconds=5))  # type: ignore[arg-type]


async def sessions(world: World) -> dict[str, int]:
    conn = await asyncpg.connect(world.postgres.dsn("postgres"))
    try:
        rows = await conn.fetch(
            "SELECT application_name = 'reader' AS reader, count(*) FROM pg_stat_activity "
            "WHERE datname = $1 GROUP BY 1",
            world.database,
        )
    finally:
        await conn.close()
    found = {"owner": 0, "reader": 0}
    for row in rows:
        found["reader" if row["reader"] else "owner"] = row["count"]
    return found


async def test_a_reader_at_the_limit_takes_an_idle_owner_connection(world: World) -> None:
    pools = tenants(world, 2)
    try:
        held = [await pools.lease("db0") for _ in range(2)]
        for lease in held:
            await lease.release()
        async with pools.connection("db0", read_only=True) as conn:
            assert await conn.fetchval("SELECT current_setting('application_name')") == "reader"
            assert await sessions(world) == {"owner": 1, "reader": 1}
    finally:
        await pools.close()


async def test_a_released_connection_goes_to_the_role_that_waits(world: World) -> None:
    pools = tenants(world, 2)
    try:
        held = [await pools.lease("db0") for _ in range(2)]
        waiting = asyncio.create_task(pools.lease("db0", read_only=True))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the database is at its limit, every connection in use
        await held[0].release()
        reader = await asyncio.wait_for(waiting, 5)
        assert await reader.conn.fetchval("SELECT current_setting('application_name')") == "reader"
        assert await sessions(world) == {"owner": 1, "reader": 1}
        await reader.release()
        await held[1].release()
    finally:
        await pools.close()


async def test_when_both_roles_wait_they_share_the_limit(world: World) -> None:
    pools = tenants(world, 4)
    peak = 0

    async def work(read_only: bool) -> None:
        nonlocal peak
        async with pools.connection("db0", read_only=read_only) as conn:
            await conn.fetchval("SELECT pg_sleep(0.02)")
            peak = max(peak, sum((await sessions(world)).values()))

    try:
        await asyncio.gather(*(work(n % 2 == 0) for n in range(40)))
        figures = {f["read_only"]: f for f in pools.figures()["databases"]}
        assert figures[True]["acquired"] == figures[False]["acquired"] == 20
        assert peak <= 4  # never more than the database's limit, both roles together
        assert figures[True]["opened"] >= 1 and figures[False]["opened"] >= 1
    finally:
        await pools.close()
