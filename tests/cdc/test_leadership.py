"""Exactly one capture reader per database across origin processes, taken over when the holder dies.

Two supervisors in this process compete with the stack's origin process for the same database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from breakwater import Client
from bwdev.stack import CONTROL_DATABASE, Stack
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user
from origin.capture.push import EdgePusher
from origin.capture.reader import SchemaSource
from origin.capture.supervisor import LEADER_LOCK, CaptureSupervisor
from origin.control.clients import HostsClient
from origin.engine.introspect import introspect
from origin.engine.schema import Schema
from origin.slots import lock_key
from tests.conftest import TenantDatabase

pytestmark = pytest.mark.e2e


def control_dsn(stack: Stack) -> str:
    assert stack.control is not None
    return stack.control.dsn(CONTROL_DATABASE)


@pytest.fixture
async def contenders(stack: Stack, tenant: TenantDatabase) -> AsyncIterator[list[CaptureSupervisor]]:
    pool = await asyncpg.create_pool(control_dsn(stack), min_size=1, max_size=2)
    http = httpx.AsyncClient()

    def schema_source(_database_id: str) -> SchemaSource:
        async def get(_refresh: bool) -> Schema:
            conn = await asyncpg.connect(tenant.dsn)
            try:
                return await introspect(conn)
            finally:
                await conn.close()

        return get

    push = EdgePusher(stack.edge_url, stack.secrets["service_secret"].encode(), http).push
    hosts = HostsClient(stack.hosts_url, stack.secrets["hosts_token"], http)
    found = [
        CaptureSupervisor(control_dsn(stack), pool, hosts, push, schema_source, takeover_interval=0.1)
        for _ in range(2)
    ]
    for supervisor in found:
        await supervisor.start()
    yield found
    for supervisor in found:
        await supervisor.stop()
    await http.aclose()
    await pool.close()


async def holders(stack: Stack, database_id: str) -> list[int]:
    conn = await asyncpg.connect(control_dsn(stack))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
            "AND classid::bigint = $1 AND objid::bigint = $2",
            LEADER_LOCK,
            lock_key(database_id) & 0xFFFFFFFF,
        )
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


async def wait_for_holder(stack: Stack, database_id: str, other_than: int | None = None) -> int:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = await holders(stack, database_id)
        assert len(found) <= 1, f"several sessions lead {database_id}: {found}"
        if found and found[0] != other_than:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError("nobody took the lead")


async def take(events: Any, count: int) -> list[dict[str, Any]]:
    return await asyncio.wait_for(asyncio.gather(*(anext(events) for _ in range(count))), 20)


async def test_one_reader_leads_and_another_takes_over_when_its_session_dies(
    stack: Stack, tenant: TenantDatabase, contenders: list[CaptureSupervisor]
) -> None:
    await tenant.sql("CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)")
    async with Client(tenant.url) as client, client.users.stream(name="lead") as events:
        first = await wait_for_holder(stack, tenant.id)
        await asyncio.sleep(0.5)  # several takeover rounds: still one leader
        assert await holders(stack, tenant.id) == [first]
        leading_here = [s for s in contenders if tenant.id in s.leading()]
        assert len(leading_here) <= 1

        await tenant.sql("INSERT INTO users (email) VALUES ('before@x.io')")
        (before,) = await take(events, 1)

        # The leader's process dies: Postgres ends its session and with it the lock.
        killer = await asyncpg.connect(control_dsn(stack))
        await killer.execute("SELECT pg_terminate_backend($1)", first)
        await killer.close()
        second = await wait_for_holder(stack, tenant.id, other_than=first)
        assert second != first

        await tenant.sql("INSERT INTO users (email) VALUES ('after@x.io')")
        (after,) = await take(events, 1)
    assert [before["created"]["email"], after["created"]["email"]] == ["before@x.io", "after@x.io"]
    slot = await tenant_slot_readers(stack, tenant)
    assert slot <= 1


async def tenant_slot_readers(stack: Stack, tenant: TenantDatabase) -> int:
    """Walsenders streaming the database's slot: never more than one."""
    shared = PostgresInstance(stack.hosts_root / "instances" / "shared-1", service_user())
    conn = await asyncpg.connect(shared.dsn())
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active", f"bw_{tenant.id}"
            )
        )
    finally:
        await conn.close()
