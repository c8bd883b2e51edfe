"""At least once and in order, through crashes: a ledger of committed writes reaches a named consumer
completely and in commit order while the origin is killed between push and confirmation, the edge
runtime restarts, Postgres crashes and restarts, and the consumer's socket is cut. Duplicates are
allowed; a gap or a reordering fails the test.

Its own stack (durable Postgres, so a crash loses no committed write), separate processes throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from breakwater import Client
from breakwater.stream import EventStream
from bwdev.stack import Stack, StackConfig
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user
from tests.conftest import TenantDatabase, create_tenant

pytestmark = pytest.mark.e2e

Expected = tuple[str, int, int | None]  # action, id, value after the change (None for deletes)


@pytest.fixture(scope="module")
def fault_stack(session_dir: Path) -> Iterator[Stack]:
    config = StackConfig(
        root=session_dir / "fault-stack",
        durable=True,
        extra_env={
            # Hold each confirmation back, so the origin can be killed after the edge stored a batch
            # and before Postgres heard it may advance the slot.
            "BREAKWATER_CAPTURE_CONFIRM_DELAY_MS": "400",
            "BREAKWATER_CAPTURE_TAKEOVER_SECONDS": "0.2",
        },
    )
    with Stack(config) as stack:
        yield stack


class Ledger:
    """Writes in many transactions, each remembered as the events it must produce, in commit order."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.expected: list[Expected] = []
        self.rows: dict[int, int] = {}
        self.next_id = 1

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
                break
            except (OSError, asyncpg.PostgresError):  # Postgres is restarting
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        try:
            async with conn.transaction():
                await work(conn)
        finally:
            await conn.close()

    async def small_transactions(self, count: int) -> None:
        for i in range(count):
            changes: list[Expected] = []

            async def work(conn: asyncpg.Connection, i: int = i, changes: list[Expected] = changes) -> None:
                for _ in range(1 + i % 3):  # one to three inserts
                    key = self.next_id
                    self.next_id += 1
                    await conn.execute("INSERT INTO ledger (id, v) VALUES ($1, $2)", key, i)
                    changes.append(("create", key, i))
                if i % 4 == 1 and self.rows:
                    key = max(self.rows)
                    await conn.execute("UPDATE ledger SET v = v + 1000 WHERE id = $1", key)
                    changes.append(("update", key, self.rows[key] + 1000))
                if i % 5 == 2 and len(self.rows) > 2:
                    key = min(self.rows)
                    await conn.execute("DELETE FROM ledger WHERE id = $1", key)
                    changes.append(("delete", key, None))

            await self._run(work)
            self._committed(changes)

    async def big_transaction(self, rows: int) -> None:
        first = self.next_id
        self.next_id += rows

        async def work(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO ledger (id, v) SELECT g, -1 FROM generate_series($1::int, $2::int) g",
                first,
                first + rows - 1,
            )

        await self._run(work)
        self._committed([("create", key, -1) for key in range(first, first + rows)])

    def _committed(self, changes: list[Expected]) -> None:
        for _action, key, value in changes:
            if value is None:
                self.rows.pop(key, None)
            else:
                self.rows[key] = value
        self.expected += changes


class Consumer:
    """A named stream consumer that records every event it is handed, then acknowledges it."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self.received: list[dict[str, Any]] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for event in self.stream:
            self.received.append(event)
            await self.stream.ack(event)

    async def wait_for(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while len({e["offset"] for e in self.received}) < count:
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, f"only {len({e['offset'] for e in self.received})} of {count}"
            await asyncio.sleep(0.02)


def as_expected(event: dict[str, Any]) -> Expected:
    record = event.get("created") or event.get("after") or event["deleted"]
    return event["action"], record["id"], None if event["action"] == "delete" else record["v"]


def slot_confirmed_lsn(stack: Stack, database_id: str) -> int:
    """Where the slot may restart from (run on a helper thread, with its own event loop)."""

    async def read() -> int:
        shared = PostgresInstance(stack.hosts_root / "instances" / "shared-1", service_user())
        conn = await asyncpg.connect(shared.dsn())
        try:
            text = await conn.fetchval(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
                f"bw_{database_id}",
            )
        finally:
            await conn.close()
        high, low = str(text).split("/")
        return (int(high, 16) << 32) | int(low, 16)

    return asyncio.run(read())


@pytest.fixture
async def ledger_db(fault_stack: Stack) -> AsyncIterator[TenantDatabase]:
    db = create_tenant(fault_stack, "ledger")
    await db.sql("CREATE TABLE ledger (id int PRIMARY KEY, v int NOT NULL)")
    yield db


async def test_every_committed_write_reaches_a_named_consumer_in_order_through_crashes(
    fault_stack: Stack, ledger_db: TenantDatabase
) -> None:
    started = time.monotonic()

    def phase(name: str) -> None:
        print(f"{time.monotonic() - started:7.2f}s {name}")

    ledger = Ledger(ledger_db.dsn)
    loop = asyncio.get_running_loop()
    async with Client(ledger_db.url) as client:
        stream = client.ledger.stream(name="ledger", window=2000, backoff=(0.02, 0.5))
        async with stream:
            consumer = Consumer(stream)

            await ledger.small_transactions(40)
            await consumer.wait_for(len(ledger.expected))

            phase(". Kill")
            # 1. Kill -9 the origin after the edge stored a batch and before the slot was confirmed.
            await ledger.small_transactions(1)
            await consumer.wait_for(len(ledger.expected))
            newest = max(int(e["offset"][:16], 16) for e in consumer.received)
            confirmed = await loop.run_in_executor(None, slot_confirmed_lsn, fault_stack, ledger_db.id)
            assert confirmed < newest, "the kill must land between the edge's store and the confirmation"
            await loop.run_in_executor(None, lambda: fault_stack.restart_service("origin", kill=True))
            await ledger.small_transactions(10)

            phase(". One transaction")
            # 2. One transaction of 10k rows, with the edge runtime restarted while it is delivered.
            await ledger.big_transaction(10_000)
            await consumer.wait_for(len(ledger.expected) - 9_000)
            await loop.run_in_executor(None, fault_stack.restart_service, "edge")
            await ledger.small_transactions(10)
            await consumer.wait_for(len(ledger.expected))

            phase(". Postgres")
            # 3. Postgres crashes (immediate shutdown) and comes back.
            await ledger.small_transactions(5)
            await loop.run_in_executor(None, fault_stack.restart_postgres)
            await ledger.small_transactions(10)
            await consumer.wait_for(len(ledger.expected))

            phase(". The consumer")
            # 4. The consumer's socket is cut without a close handshake.
            stream.drop_connection()
            await ledger.small_transactions(10)
            await consumer.wait_for(len(ledger.expected))

            consumer.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.task

    assert stream.connections >= 3  # it really was cut off and came back
    first_seen: dict[str, dict[str, Any]] = {}
    for event in consumer.received:
        first_seen.setdefault(event["offset"], event)
    offsets = list(first_seen)
    assert offsets == sorted(offsets), "events were delivered out of commit order"
    assert [as_expected(e) for e in first_seen.values()] == ledger.expected
    assert len(ledger.expected) > 10_100
