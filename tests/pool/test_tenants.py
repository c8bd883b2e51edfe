"""The origin's pools: per-database limits, a host budget, ordered bounded waits, idle closing."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from origin.auth import database_gone
from origin.errors import HostUnavailable, Unauthorized
from origin.pool.errors import DatabaseGone, PoolTimeout
from origin.pool.settings import PoolSettings
from origin.tenants import Tenants
from tests.pool.conftest import PoolWorld


async def test_a_pool_opens_on_first_use_and_reuses_its_connection(world: PoolWorld) -> None:
    tenants = world.tenants()
    try:
        assert tenants.figures()["databases"] == []
        pids = set()
        for _ in range(3):
            async with tenants.connection("db0") as conn:
                pids.add(await conn.fetchval("SELECT pg_backend_pid()"))
        assert len(pids) == 1
        [figures] = tenants.figures()["databases"]
        keys = ("database_id", "in_use", "idle", "waiting", "acquired", "opened")
        assert {k: figures[k] for k in keys} == {
            "database_id": "db0",
            "in_use": 0,
            "idle": 1,
            "waiting": 0,
            "acquired": 3,
            "opened": 1,
        }
    finally:
        await tenants.close()


async def test_waiting_requests_are_served_in_the_order_they_came(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=1)
    served: list[int] = []

    async def request(n: int) -> None:
        async with tenants.connection("db0") as conn:
            served.append(n)
            await conn.fetchval("SELECT 1")

    try:
        held = await tenants.lease("db0")
        tasks = []
        for n in range(8):
            tasks.append(asyncio.create_task(request(n)))
            await asyncio.sleep(0)  # each one joins the line before the next
        await asyncio.sleep(0.01)
        assert tenants.figures()["databases"][0]["waiting"] == 8
        await held.release()
        await asyncio.gather(*tasks)
        assert served == list(range(8))
    finally:
        await tenants.close()


async def test_a_request_that_waits_too_long_fails_with_prismas_pool_timeout(world: PoolWorld) -> None:
    # A second's wait: long enough that the first connection opens within it on a loaded machine.
    tenants = world.tenants(per_database=1, wait_seconds=1.0)
    try:
        held = await tenants.lease("db0")
        with pytest.raises(PoolTimeout) as caught:
            await tenants.lease("db0")
        assert (caught.value.status, caught.value.body()) == (
            503,
            {
                "code": "P2024",
                "message": "Timed out fetching a new connection from the connection pool (waited 1s; "
                "connection limit 1 for this database, 100 for its host).",
                "meta": {"connection_limit": 1, "timeout": 1.0},
                "hint": "Retry, use fewer concurrent requests, or raise the connection limit.",
            },
        )
        await held.release()
        figures = tenants.figures()["databases"][0]
        assert (figures["timeouts"], figures["waiting"], figures["in_use"]) == (1, 0, 0)
        async with tenants.connection("db0") as conn:  # the pool still works afterwards
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await tenants.close()


async def test_a_spike_over_several_databases_never_exceeds_the_host_budget(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=4, per_host=5, wait_seconds=30)
    peak = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await world.backends())

    async def request(n: int) -> int:
        async with tenants.connection(world.ids[n % 3]) as conn:
            return int(await conn.fetchval("SELECT $1::int FROM pg_sleep(0.001)", n))

    sampler = asyncio.create_task(sample())
    try:
        results = await asyncio.gather(*(request(n) for n in range(600)))
        done.set()
        await sampler
        assert results == list(range(600))
        assert 1 <= peak <= 5
        figures = tenants.figures()
        assert figures["hosts"][0]["used"] <= 5
        assert sorted(d["acquired"] for d in figures["databases"]) == [200, 200, 200]
        assert all(d["timeouts"] == 0 for d in figures["databases"])
    finally:
        done.set()
        await tenants.close()


async def test_a_busy_database_takes_the_idle_connection_of_a_quiet_one(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=2, per_host=2)
    try:
        first, second = await tenants.lease("db0"), await tenants.lease("db0")
        await first.release()
        await second.release()
        async with tenants.connection("db1") as conn:
            assert await conn.fetchval("SELECT current_database()") == world.names[1]
        quiet, busy = tenants.figures()["databases"]
        assert (quiet["idle"], quiet["closed"], busy["opened"]) == (1, 1, 1)
        assert await world.backends() == 2
    finally:
        await tenants.close()


async def test_connections_and_pools_idle_past_the_idle_time_are_closed(world: PoolWorld) -> None:
    tenants = world.tenants(idle_seconds=0.1)
    try:
        async with tenants.connection("db0") as conn:
            await conn.fetchval("SELECT 1")
        assert await world.backends() == 1
        for _ in range(100):
            if not tenants.figures()["databases"] and await world.backends() == 0:
                break
            await asyncio.sleep(0.02)
        assert tenants.figures() == {
            "settings": tenants.figures()["settings"],
            "share": {"origins": 1, "rank": 0},
            "hosts": [{"host": "h1", "budget": 100, "host_budget": 100, "used": 0, "waiting_pools": 0}],
            "databases": [],
        }
        assert await world.backends() == 0
        async with tenants.connection("db0") as conn:  # and it opens again on the next use
            assert await conn.fetchval("SELECT 2") == 2
    finally:
        await tenants.close()


async def test_a_cancelled_wait_does_not_leak_a_connection(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=1)
    try:
        held = await tenants.lease("db0")
        waiting = asyncio.create_task(tenants.lease("db0"))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await held.release()
        await held.release()  # a second release does nothing
        lease = await tenants.lease("db0", timeout=1)
        await lease.release()
        figures = tenants.figures()["databases"][0]
        assert (figures["in_use"], figures["idle"], figures["waiting"], figures["opened"]) == (0, 1, 0, 1)
    finally:
        await tenants.close()


async def test_a_connection_the_server_ended_is_replaced_unnoticed(world: PoolWorld) -> None:
    tenants = world.tenants()
    try:
        async with tenants.connection("db0") as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        admin = await asyncpg.connect(world.postgres.dsn("postgres"))
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        await admin.close()
        await asyncio.sleep(0.05)  # the pooled connection sees its end
        async with tenants.connection("db0") as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != pid
        assert tenants.figures()["databases"][0]["opened"] == 2
    finally:
        await tenants.close()


async def test_session_state_does_not_reach_the_next_borrower(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=1)
    try:
        async with tenants.connection("db0") as conn:
            await conn.execute("SET application_name = 'left-behind'; BEGIN")
        async with tenants.connection("db0") as conn:
            assert await conn.fetchval("SHOW application_name") == ""
            assert not conn.is_in_transaction()
    finally:
        await tenants.close()


async def test_an_unreachable_database_fails_its_waiters_with_a_clear_error(world: PoolWorld) -> None:
    world.directory.entries["gone"] = ("postgresql://u:p@127.0.0.1:9/nowhere", "h2")
    tenants = world.tenants(connect_seconds=0.2)
    try:
        results = await asyncio.gather(*(tenants.lease("gone") for _ in range(3)), return_exceptions=True)
        # Nobody listens at its host's proxy: that host's outage (BW3010, naming it), not a hang.
        assert all(isinstance(r, HostUnavailable) for r in results)
        assert str(results[0]).startswith("The database's host 'h2' cannot be reached:")
        assert results[0].meta["host"] == "h2"
    finally:
        await tenants.close()


async def test_a_deleted_database_is_the_pools_fact_and_the_origins_answer_is_an_invalid_key(
    world: PoolWorld,
) -> None:
    # The pool says what it knows: the database is gone. The origin wires in what a caller hears
    # (app.py: `gone=auth.database_gone`), the same P6002 a revoked key gets.
    plain = world.tenants()
    answering = Tenants(world.directory, PoolSettings(), gone=database_gone)  # type: ignore[arg-type]
    try:
        with pytest.raises(DatabaseGone) as gone:
            async with plain.connection("deleted"):
                pass
        assert (gone.value.status, gone.value.code) == (404, "BW1404")
        with pytest.raises(Unauthorized) as refused:
            async with answering.serving("deleted"):
                pass
        assert refused.value.body() == {
            "code": "P6002",
            "message": "API key is invalid: its database no longer exists.",
        }
        assert refused.value.status == 401
    finally:
        await plain.close()
        await answering.close()
