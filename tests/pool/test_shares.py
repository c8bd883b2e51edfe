"""Several origins divide a host's budget and each database's limit (origin/shares.py, the resize
rules of origin/pool/): the parts add up to the whole, a share that shrinks is reached without
interrupting anyone, one that grows goes to the line at once, and fair share works within a share."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.shares import WHOLE, Share
from origin.tenants import Tenants
from tests.pool.conftest import PoolWorld
from tests.pool.test_fair_share import budget_watch, eventually


@pytest.mark.parametrize(
    ("total", "count", "parts"),
    [
        (100, 1, [100]),
        (100, 3, [34, 33, 33]),
        (10, 3, [4, 3, 3]),
        (10, 4, [3, 3, 2, 2]),
        (2, 3, [1, 1, 1]),  # more origins than connections: each keeps one
    ],
)
def test_a_budget_is_split_evenly_with_the_remainder_to_the_first_origins(
    total: int, count: int, parts: list[int]
) -> None:
    assert [Share(rank, count).of(total) for rank in range(count)] == parts


@given(total=st.integers(1, 10_000), count=st.integers(1, 64))
def test_the_parts_never_add_up_to_more_than_the_whole_when_each_can_have_one(total: int, count: int) -> None:
    parts = [Share(rank, count).of(total) for rank in range(count)]
    assert sum(parts) == max(total, count)
    assert max(parts) - min(parts) <= 1


def test_an_origin_finds_its_place_among_the_live_ones_by_id() -> None:
    assert Share.among(["o3", "o1", "o2"], "o2") == Share(1, 3)
    assert Share.among([], "o2") == WHOLE  # it counts itself even when the list missed it
    assert Share.among(["o1"], "o2") == Share(1, 2)


async def load(tenants: Tenants, database_id: str, requests: int, seconds: float = 0.02) -> None:
    async def one() -> None:
        async with tenants.serving(database_id) as conn:
            await conn.execute(f"SELECT pg_sleep({seconds})")

    await asyncio.gather(*(one() for _ in range(requests)))


async def test_two_origins_with_half_the_budget_each_never_exceed_the_host(world: PoolWorld) -> None:
    origins = [world.tenants(per_host=6, per_database=6, wait_seconds=30) for _ in range(2)]
    for rank, tenants in enumerate(origins):
        tenants.divide(Share(rank, 2))
    try:
        async with budget_watch(world) as peak:
            await asyncio.gather(*(load(t, db, 20) for t in origins for db in world.ids))
        assert peak[0] <= 6
        # Each used its whole part: the host was full, not half empty.
        assert [t.figures()["hosts"][0]["budget"] for t in origins] == [3, 3]
    finally:
        for tenants in origins:
            await tenants.close()


async def test_a_shrinking_share_closes_idle_connections_at_once_and_busy_ones_when_released(
    world: PoolWorld,
) -> None:
    tenants = world.tenants(per_host=6, per_database=6)
    db0 = world.ids[0]
    try:
        await load(tenants, db0, 6)  # six connections open, idle now
        assert await world.backends() == 6
        busy = await tenants.lease(db0)  # one of them in use
        tenants.divide(Share(0, 3))  # two more origins joined: 2 of 6 are this one's
        assert await sessions_come_to(world, 2)
        assert tenants.figures()["hosts"][0]["used"] == 2
        also_busy = await tenants.lease(db0)
        tenants.divide(Share(1, 6))  # and more: 1 of 6
        await asyncio.sleep(0.1)
        assert await world.backends() == 2  # busy connections are not interrupted...
        await busy.conn.fetchval("SELECT 1")
        await busy.release()
        assert await sessions_come_to(world, 1)  # ...one closes on release
        await also_busy.release()
        async with budget_watch(world) as peak:
            await load(tenants, db0, 10)
        assert peak[0] == 1
    finally:
        await tenants.close()


async def test_a_growing_share_goes_to_the_waiting_requests_at_once(world: PoolWorld) -> None:
    tenants = world.tenants(per_host=4, per_database=4, wait_seconds=30)
    tenants.divide(Share(0, 4))  # one connection
    db0 = world.ids[0]
    try:
        first = await tenants.lease(db0)
        waiting = [asyncio.ensure_future(tenants.lease(db0)) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert not any(w.done() for w in waiting)
        tenants.divide(WHOLE)  # the other origins died: the whole budget is this one's
        leases = await asyncio.wait_for(asyncio.gather(*waiting), 5)
        assert await world.backends() == 4
        for lease in [first, *leases]:
            await lease.release()
    finally:
        await tenants.close()


async def test_fair_share_among_databases_works_within_an_origins_share(world: PoolWorld) -> None:
    tenants = world.tenants(per_host=8, per_database=8, wait_seconds=30, reclaim_after_seconds=0.05)
    tenants.divide(Share(1, 2))  # 4 of the host's 8
    db0, db1, _ = world.ids
    try:
        held = [await tenants.lease(db0) for _ in range(4)]  # db0 holds this origin's whole share
        async with budget_watch(world) as peak:
            # db1 is still served: rule 4 takes back one of db0's connections for it.
            for lease in held:
                lease.loan.stop = lambda lease=lease: asyncio.ensure_future(lease.release())
            async with tenants.serving(db1) as conn:
                assert await conn.fetchval("SELECT current_database()") == world.names[1]
        assert peak[0] <= 4
    finally:
        await tenants.close()


async def sessions_come_to(world: PoolWorld, count: int) -> bool:
    async def check() -> bool:
        return await world.backends() == count

    return await eventually(check)
