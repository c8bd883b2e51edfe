"""Live origins, as the control plane sees them (origin/peers.py): each origin's share follows joins,
clean leaves and crashes, and two processes with one origin id never both count."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from origin.peers import APPLICATION, Membership
from origin.shares import Share


class Origin:
    """A membership and every share it was handed, in order."""

    def __init__(self, dsn: str, origin_id: str, interval: float) -> None:
        self.shares: list[Share] = []
        self.membership = Membership(dsn, origin_id, self.shares.append, interval)

    @property
    def share(self) -> Share:
        return self.membership.share


Join = Callable[..., Awaitable[Origin]]


@pytest.fixture
async def join(pg_database: str) -> AsyncIterator[Join]:
    started: list[Origin] = []

    async def start(origin_id: str, interval: float = 30.0) -> Origin:
        origin = Origin(pg_database, origin_id, interval)
        await origin.membership.start()
        started.append(origin)
        return origin

    yield start
    for origin in started:
        await origin.membership.stop()


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.01)


async def test_each_origin_holds_its_part_and_a_join_is_seen_at_once(join: Join) -> None:
    # A long interval: only NOTIFY can make the others see a join in time.
    o2 = await join("o2")
    assert o2.share == Share(0, 1) and o2.shares == []  # alone: the whole budget, as before
    o1, o3 = await join("o1"), await join("o3")
    await until(lambda: o2.share.count == 3 and o1.share.count == 3 and o3.share.count == 3)
    assert [o.share.rank for o in (o1, o2, o3)] == [0, 1, 2]
    assert sum(o.share.of(100) for o in (o1, o2, o3)) == 100


async def test_a_clean_leave_gives_the_share_back_at_once(join: Join) -> None:
    o1, o2, o3 = await join("o1"), await join("o2"), await join("o3")
    await until(lambda: o1.share.count == 3 and o3.share.count == 3)
    await o2.membership.stop()
    await until(lambda: o1.share == Share(0, 2) and o3.share == Share(1, 2), seconds=2)


async def test_a_crashed_origins_share_comes_back_within_the_interval(join: Join, pg_database: str) -> None:
    o1, o2 = await join("o1", interval=0.2), await join("o2", interval=0.2)
    await until(lambda: o1.share.count == 2)
    # o2's session ends without a word, as when its process is killed: Postgres drops its lock.
    admin = await asyncpg.connect(pg_database)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION + "o2",
        )
        assert ended == 1
        task = o2.membership._task  # and it does not come back
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await until(lambda: o1.share == Share(0, 1), seconds=2)
    finally:
        await admin.close()


async def test_a_second_process_with_the_same_id_waits_until_the_first_is_gone(
    join: Join,
) -> None:
    first = await join("o1", interval=0.1)
    other = await join("o2", interval=0.1)
    second = await join("o1", interval=0.1)
    await until(lambda: other.share.count == 2)
    await asyncio.sleep(0.3)
    assert other.share == Share(1, 2)  # o1 counts once
    assert first.membership._holding and not second.membership._holding
    await first.membership.stop()
    await until(lambda: second.membership._holding)
    # o2 saw o1 leave; it counts o1 again once it sees the second process hold the id.
    await until(lambda: other.share == Share(1, 2))
