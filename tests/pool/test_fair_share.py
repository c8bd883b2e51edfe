"""Fair share of a host (origin/pool/host.py, rules 1-4): databases holding open transactions or long
statements above their share give a connection back to a database below it, one within its share
keeps its connections, the budget is never exceeded, and each database's line is bounded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bwcontract.keys import KeyClaims
from origin.caller import Caller
from origin.limits import Limits, LimitsBook, TooManyWaiting
from origin.pool.errors import Reclaimed
from origin.tenants import Tenants
from origin.transactions import TransactionError, TransactionManager
from tests.pool.conftest import PoolWorld

FAST = {"reclaim_after_seconds": 0.05, "wait_seconds": 20.0}


def caller(database_id: str) -> Caller:
    return Caller(KeyClaims("key", "ws", database_id, database_id, "read-write"), "rid")


@contextlib.asynccontextmanager
async def budget_watch(world: PoolWorld) -> AsyncIterator[list[int]]:
    """Samples Postgres's sessions on the test databases while the block runs: [peak]."""
    peak = [0]
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], await world.backends())

    sampler = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        done.set()
        await sampler


async def eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    for _ in range(200):
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_open_transactions_of_several_databases_give_way_to_another_database(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=4, per_host=4, **FAST)
    txs = TransactionManager(tenants, "o1")
    db0, db1, db2 = world.ids
    try:
        async with budget_watch(world) as peak:
            long = 15_000  # ms: none expires during the test
            held = {db: [await txs.start(caller(db), timeout_ms=long) for _ in range(2)] for db in (db0, db1)}
            # The host is full of open transactions; a third database is still served.
            async with tenants.serving(db2) as conn:
                assert await conn.fetchval("SELECT current_database()") == world.names[2]
        assert peak[0] <= 4
        # One transaction was rolled back for it, and says why; the others go on.
        outcomes: dict[str, list[str]] = {}
        for db, open_txs in held.items():
            for tx in open_txs:
                try:
                    await txs.run(caller(db), tx.id, lambda c: c.fetchval("SELECT 1"))
                    outcomes.setdefault(db, []).append("open")
                except TransactionError as exc:
                    assert exc.code == "P2028" and "fair share" in exc.message
                    outcomes.setdefault(db, []).append("reclaimed")
        assert sorted(outcomes[db0] + outcomes[db1]) == ["open", "open", "open", "reclaimed"]
        # The oldest transaction of the database furthest above its share (2 each, share 1: the first).
        assert outcomes[db0][0] == "reclaimed"
        [figures] = [d for d in tenants.figures()["databases"] if d["database_id"] == db0]
        assert figures["reclaimed"] == 1
    finally:
        await txs.close_all()
        await tenants.close()


async def test_ten_tenants_transactions_no_longer_starve_everyone_else(world: PoolWorld) -> None:
    # What the issue saw: every slot held by open transactions, the rest got P2024. Three databases
    # with a budget of 6: two hold every slot, the third still runs twenty requests in turn.
    tenants = world.tenants(per_database=6, per_host=6, **FAST)
    txs = TransactionManager(tenants, "o1")
    db0, db1, db2 = world.ids
    try:
        async with budget_watch(world) as peak:
            for db in (db0, db1):
                for _ in range(3):
                    await txs.start(caller(db), timeout_ms=15_000)

            async def request(n: int) -> int:
                async with tenants.serving(db2) as conn:
                    return int(await conn.fetchval("SELECT $1::int", n))

            assert await asyncio.gather(*(request(n) for n in range(20))) == list(range(20))
        assert peak[0] <= 6
        [victim] = [d for d in tenants.figures()["databases"] if d["database_id"] == db2]
        assert victim["timeouts"] == 0
    finally:
        await txs.close_all()
        await tenants.close()


async def test_long_statements_above_the_share_are_stopped_for_a_database_below_it(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=3, per_host=3, **FAST)
    db0, db1, _ = world.ids
    running: list[asyncio.Task[Any]] = []
    try:

        async def long_statement() -> None:
            async with tenants.serving(db0) as conn:
                await conn.execute("SELECT pg_sleep(30)")

        running = [asyncio.create_task(long_statement()) for _ in range(3)]
        assert await eventually(lambda: _in_use(tenants, db0, 3))
        async with budget_watch(world) as peak:
            async with tenants.serving(db1) as conn:
                assert await conn.fetchval("SELECT 1") == 1
        assert peak[0] <= 3
        done, _ = await asyncio.wait(running, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        [stopped] = done
        with pytest.raises(Reclaimed) as caught:
            stopped.result()
        assert (caught.value.status, caught.value.code) == (503, "BW3003")
        assert sum(1 for task in running if not task.done()) == 2  # within its share now: left alone
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await tenants.close()


async def test_a_database_within_its_share_keeps_its_idle_connection(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=2, per_host=2, **FAST)
    quiet, busy, _ = world.ids
    held: list[Any] = []
    try:
        async with tenants.serving(quiet) as conn:
            await conn.fetchval("SELECT 1")
        held.append(await tenants.lease(busy))
        # The busy one wants a second connection: the host is full, the quiet one holds its share (1).
        waiting = asyncio.create_task(tenants.lease(busy, timeout=0.3))
        with pytest.raises(Exception) as caught:
            await waiting
        assert getattr(caught.value, "code", None) == "P2024"
        async with tenants.serving(quiet) as conn:  # served by the connection it kept
            await conn.fetchval("SELECT 1")
        [figures] = [d for d in tenants.figures()["databases"] if d["database_id"] == quiet]
        assert (figures["opened"], figures["closed"]) == (1, 0)
    finally:
        for lease in held:
            await lease.release()
        await tenants.close()


async def test_a_database_above_its_share_gives_up_its_idle_connections(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=2, per_host=2, **FAST)
    busy, other, _ = world.ids
    try:
        first, second = await tenants.lease(busy), await tenants.lease(busy)
        await first.release()
        await second.release()
        async with tenants.serving(other) as conn:  # two active databases: a share of one each
            assert await conn.fetchval("SELECT current_database()") == world.names[1]
        [figures] = [d for d in tenants.figures()["databases"] if d["database_id"] == busy]
        assert (figures["idle"], figures["closed"]) == (1, 1)
    finally:
        await tenants.close()


async def test_freed_slots_go_to_the_database_holding_the_fewest(world: PoolWorld) -> None:
    tenants = world.tenants(per_database=3, per_host=3, reclaim_after_seconds=60.0)
    db0, db1, db2 = world.ids
    first: asyncio.Task[Any] | None = None
    try:
        leases = [await tenants.lease(db0), await tenants.lease(db0), await tenants.lease(db1)]
        first = asyncio.create_task(tenants.lease(db0))  # db0, holding two, asks first
        await asyncio.sleep(0.01)
        second = asyncio.create_task(tenants.lease(db2))  # db2, holding none, after it
        await asyncio.sleep(0.01)
        await leases.pop(0).release()  # db0 is above its share (1 of 3): the slot goes to the line
        got = await asyncio.wait_for(second, 5)
        assert await got.conn.fetchval("SELECT current_database()") == world.names[2]
        assert not first.done()
        await got.release()
        for lease in leases:
            await lease.release()
        await (await first).release()
    finally:
        if first is not None and not first.done():
            first.cancel()
        await tenants.close()


async def test_a_databases_line_is_bounded(world: PoolWorld) -> None:
    tenants = Tenants(
        world.directory,  # type: ignore[arg-type]
        world.tenants(per_database=1).settings,
        limits=LimitsBook(None, Limits(waiting_requests=2)),
    )
    try:
        held = await tenants.lease("db0")
        waiting = [asyncio.create_task(tenants.lease("db0")) for _ in range(2)]
        await asyncio.sleep(0.01)
        with pytest.raises(TooManyWaiting) as caught:
            await tenants.lease("db0")
        assert (caught.value.status, caught.value.body()) == (
            429,
            {
                "code": "BW1429",
                "message": "This database already has 2 requests waiting for a connection.",
                # Nobody has left the line yet: told to wait as long as a request may wait in it.
                "meta": {"waiting_requests": 2, "retry_after_seconds": 10},
                "hint": "Send fewer concurrent requests, or retry after the time Retry-After says.",
            },
        )
        async with tenants.serving("db1") as conn:  # another database's line is its own
            assert await conn.fetchval("SELECT 1") == 1
        await held.release()
        for task in waiting:
            await (await task).release()
        assert tenants.figures()["databases"][0]["refused"] == 1
    finally:
        await tenants.close()


async def _in_use(tenants: Tenants, database_id: str, count: int) -> bool:
    figures = tenants.figures()["databases"]
    return any(d["database_id"] == database_id and d["in_use"] == count for d in figures)
