"""A request's session state never reaches the next request on the same connection: the pool resets
each connection before it lends it again, also now that the reset runs after the request's answer
(`Tenants.serving` gives the connection back with `Lease.release_soon`). SECURITY.md relies on it: a
tenant's trigger could otherwise turn the query timeout off for the requests after it."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from origin.pool.settings import PoolSettings
from origin.tenants import Tenants
from tests.pool.conftest import PoolWorld

# A trigger that changes its session for good: the query timeout off, a setting of its own, a
# session-level advisory lock and a LISTEN, all of which would outlive the request without a reset.
HOSTILE = """
CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
CREATE FUNCTION linger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_catalog.set_config('statement_timeout', '0', false);
  PERFORM pg_catalog.set_config('bw_test.leak', 'yes', false);
  PERFORM pg_catalog.pg_advisory_lock(pg_catalog.pg_backend_pid());
  LISTEN lingering;
  RETURN NEW;
END $$;
CREATE TRIGGER linger AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION linger();
"""

STATE = """
SELECT pg_catalog.pg_backend_pid() AS pid,
       pg_catalog.current_setting('statement_timeout') AS statement_timeout,
       pg_catalog.current_setting('bw_test.leak', true) AS leak,
       (SELECT count(*) FROM pg_catalog.pg_locks
         WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()) AS advisory_locks,
       (SELECT count(*) FROM pg_catalog.pg_listening_channels()) AS listening
"""


async def prepare(world: PoolWorld) -> str:
    conn = await asyncpg.connect(world.postgres.dsn(world.names[0]))
    try:
        await conn.execute(HOSTILE)
    finally:
        await conn.close()
    return "db0"


async def write(tenants: Tenants, database: str) -> int:
    """A request whose INSERT fires the trigger; inside it, the session did change."""
    async with tenants.serving(database) as conn:
        await conn.execute("INSERT INTO notes (body) VALUES ('x')")
        state = await conn.fetchrow(STATE)
        assert (state["statement_timeout"], state["leak"], state["advisory_locks"]) == ("0", "yes", 1)
        assert state["listening"] == 1
        return int(state["pid"])


async def read(tenants: Tenants, database: str, timeout: str) -> int:
    """A request that only looks at its session: it must be as new."""
    async with tenants.serving(database) as conn:
        state = await conn.fetchrow(STATE)
    assert state["statement_timeout"] == timeout
    assert state["leak"] in (None, "")  # never set, or back to its reset value
    assert (state["advisory_locks"], state["listening"]) == (0, 0)
    return int(state["pid"])


async def startup_timeout(tenants: Tenants, database: str) -> str:
    async with tenants.serving(database) as conn:
        return str(await conn.fetchval("SHOW statement_timeout"))


async def test_the_next_request_on_the_connection_finds_it_reset(world: PoolWorld) -> None:
    database = await prepare(world)
    tenants = Tenants(world.directory, PoolSettings(per_database=1))  # type: ignore[arg-type]
    try:
        timeout = await startup_timeout(tenants, database)
        assert timeout != "0"
        for _ in range(5):
            # Straight after the answer, while its reset may still be under way: the same session.
            writer = await write(tenants, database)
            assert await read(tenants, database, timeout) == writer
    finally:
        await tenants.close()


async def test_settings_do_not_leak_between_concurrent_requests(world: PoolWorld) -> None:
    database = await prepare(world)
    tenants = Tenants(world.directory, PoolSettings(per_database=2))  # type: ignore[arg-type]
    try:
        timeout = await startup_timeout(tenants, database)
        kinds = ["write"] * 40 + ["read"] * 40
        random.Random(19).shuffle(kinds)

        async def one(kind: str) -> tuple[str, int]:
            await asyncio.sleep(random.random() / 100)
            if kind == "write":
                return kind, await write(tenants, database)
            return kind, await read(tenants, database, timeout)

        done = await asyncio.wait_for(asyncio.gather(*(one(kind) for kind in kinds)), 60)
        writers = {pid for kind, pid in done if kind == "write"}
        readers = {pid for kind, pid in done if kind == "read"}
        assert len(writers | readers) <= 2  # two connections served all 80: each read followed writes
        assert writers & readers
    finally:
        await tenants.close()


async def test_closing_waits_for_the_resets_under_way(world: PoolWorld) -> None:
    database = await prepare(world)
    tenants = Tenants(world.directory, PoolSettings(per_database=2))  # type: ignore[arg-type]
    await asyncio.gather(*(write(tenants, database) for _ in range(2)))
    await tenants.close()  # straight after the answers: both connections are still being reset
    # Nothing of the pool's is left running (the connections' closes included)...
    pending = [t.get_coro() for t in asyncio.all_tasks() if not t.done()]
    assert [c for c in pending if getattr(c, "__qualname__", "").startswith("DatabasePool.")] == []
    assert await world.backends() == 0  # ...and Postgres has ended both sessions
