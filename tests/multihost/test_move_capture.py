"""Change events survive a move: what was committed before it and after it arrives once each, in
order, with offsets that keep rising (a new slot on the new host's cluster, its positions shifted
above the old ones)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from breakwater import Client
from breakwater.stream import EventStream
from bwdev.stack import Stack

from .conftest import host_of, make_database

pytestmark = pytest.mark.e2e


async def take(events: EventStream, count: int) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [await anext(events) for _ in range(count)]

    return await asyncio.wait_for(collect(), 30)


async def insert(dsn: str, *emails: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for email in emails:
            await conn.execute("INSERT INTO users (email) VALUES ($1)", email)
    finally:
        await conn.close()


async def test_change_events_continue_across_a_move_with_none_lost_or_repeated(two_hosts: Stack) -> None:
    # Shared placement: the harder case (a new slot in another cluster's WAL). A dedicated
    # instance's slot travels inside its data directory; the drain test moves one, without events.
    db = make_database(two_hosts, host="local")
    await db.sql("CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)")
    async with Client(db.url) as client, client.users.stream() as events:
        await insert(db.dsn, "1@x.io", "2@x.io")
        before = await take(events, 2)
        # Committed after the last delivery and before the move: it must come through too.
        await insert(db.dsn, "3@x.io")
        moved = await asyncio.to_thread(
            two_hosts.admin, "POST", f"/admin/databases/{db.name}/move", {"host": "h2"}
        )
        assert moved["move"]["to"] == "h2" and host_of(two_hosts, db.name) == "h2"
        dsn = two_hosts.admin("GET", f"/admin/databases/{db.name}")["postgres_dsn"]
        await insert(dsn, "4@x.io", "5@x.io")
        after = await take(events, 3)
    received = before + after
    assert [e["created"]["email"] for e in received] == [f"{n}@x.io" for n in range(1, 6)]
    offsets = [e["offset"] for e in received]
    assert offsets == sorted(offsets) and len(set(offsets)) == 5
