"""RevocationWatch: a revoked key's interactive transactions roll back, told by NOTIFY or found by the
sweep when a notification was lost; against real Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bwcontract.keys import KeyClaims
from origin.caller import Caller
from origin.control.keygate import RevokedCallback
from origin.revocations import RevocationWatch
from origin.tenants import Tenants
from origin.transactions import TransactionError, TransactionManager
from tests.origin.test_transactions import OneDatabaseStore


class FakeKeyGate:
    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.subscribers: list[RevokedCallback] = []

    async def is_active(self, key_id: str, database_id: str) -> bool:
        return key_id not in self.revoked

    def on_revoked(self, callback: RevokedCallback) -> None:
        self.subscribers.append(callback)


def caller(key_id: str) -> Caller:
    return Caller(KeyClaims(key_id, "ws", "db1", "db1", "read-write"), "rid")


@pytest.fixture
async def manager(pg_database: str) -> AsyncIterator[TransactionManager]:
    conn = await asyncpg.connect(pg_database)
    await conn.execute("CREATE TABLE t (v int)")
    await conn.close()
    tenants = Tenants(OneDatabaseStore(pg_database), max_size=4)  # type: ignore[arg-type]
    txs = TransactionManager(tenants, "o1")
    yield txs
    await txs.close_all()
    await tenants.close()


async def test_the_sweep_rolls_back_transactions_of_keys_that_are_no_longer_live(
    manager: TransactionManager,
) -> None:
    gate = FakeKeyGate()
    watch = RevocationWatch(gate, manager, interval=60)  # type: ignore[arg-type]
    doomed, kept = await manager.start(caller("k1")), await manager.start(caller("k2"))
    await manager.run(caller("k1"), doomed.id, lambda c: c.execute("INSERT INTO t VALUES (1)"))
    assert await watch.sweep() == 0
    gate.revoked.add("k1")  # as if the NOTIFY had been lost
    assert await watch.sweep() == 1
    with pytest.raises(TransactionError, match="revoked"):
        await manager.commit(caller("k2"), doomed.id)
    await manager.run(caller("k2"), kept.id, lambda c: c.execute("INSERT INTO t VALUES (2)"))
    await manager.commit(caller("k2"), kept.id)
    async with manager._tenants.connection("db1") as conn:
        assert await conn.fetchval("SELECT array_agg(v) FROM t") == [2]


async def test_a_notified_revocation_cancels_a_running_statement_and_rolls_back(
    manager: TransactionManager,
) -> None:
    gate = FakeKeyGate()
    watch = RevocationWatch(gate, manager, interval=60)  # type: ignore[arg-type]
    watch.start()
    try:
        tx = await manager.start(caller("k1"))
        running = asyncio.ensure_future(
            manager.run(caller("k1"), tx.id, lambda c: c.execute("SELECT pg_sleep(30)"))
        )
        await asyncio.sleep(0.3)
        [notify] = gate.subscribers
        await asyncio.wait_for(notify("k1"), 10)
        with pytest.raises(TransactionError, match="revoked"):
            await asyncio.wait_for(running, 10)
        assert manager.open_count() == 0
    finally:
        await watch.stop()
