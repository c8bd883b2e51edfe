"""Interactive transactions across requests, against real Postgres."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bwcontract.keys import KeyClaims
from origin.caller import Caller
from origin.control.store import Database
from origin.errors import Forbidden, QueryValidationError
from origin.tenants import Tenants
from origin.transactions import TransactionError, TransactionManager


class OneDatabaseStore:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def database_by_id(self, database_id: str) -> Database | None:
        if database_id not in ("db1", "db2"):
            return None
        # One role for both: these tests are about the transactions (the read-only role: tests/security).
        return Database(
            database_id,
            "ws",
            database_id,
            "local",
            "i",
            "shared",
            self.dsn,
            dt.datetime.now(dt.UTC),
            self.dsn,
        )


def caller(database_id: str = "db1", scope: str = "read-write") -> Caller:
    return Caller(KeyClaims("key", "ws", database_id, database_id, scope), "rid")


@pytest.fixture
async def manager(pg_database: str) -> AsyncIterator[TransactionManager]:
    conn = await asyncpg.connect(pg_database)
    await conn.execute("CREATE TABLE t (v int)")
    await conn.close()
    tenants = Tenants(OneDatabaseStore(pg_database), max_size=2)  # type: ignore[arg-type]
    txs = TransactionManager(tenants, "o1")
    yield txs
    await txs.close_all()
    await tenants.close()


async def count(manager: TransactionManager) -> int:
    async with manager._tenants.connection("db1") as conn:
        return int(await conn.fetchval("SELECT count(*) FROM t"))


async def test_a_committed_transaction_keeps_its_writes(manager: TransactionManager) -> None:
    tx = await manager.start(caller())
    assert tx.id.startswith("o1~")
    await manager.run(caller(), tx.id, lambda c: c.execute("INSERT INTO t VALUES (1)"))
    assert await count(manager) == 0  # not visible outside before commit
    await manager.commit(caller(), tx.id)
    assert await count(manager) == 1
    with pytest.raises(TransactionError, match="committed"):
        await manager.commit(caller(), tx.id)


async def test_a_rolled_back_transaction_leaves_nothing(manager: TransactionManager) -> None:
    tx = await manager.start(caller(), isolation="Serializable")
    await manager.run(caller(), tx.id, lambda c: c.execute("INSERT INTO t VALUES (1)"))
    await manager.rollback(caller(), tx.id)
    assert await count(manager) == 0


async def test_an_expired_transaction_is_rolled_back_and_answers_p2028(manager: TransactionManager) -> None:
    tx = await manager.start(caller(), timeout_ms=100)
    await manager.run(caller(), tx.id, lambda c: c.execute("INSERT INTO t VALUES (1)"))
    await asyncio.sleep(0.3)
    with pytest.raises(TransactionError) as info:
        await manager.run(caller(), tx.id, lambda c: c.execute("INSERT INTO t VALUES (2)"))
    assert info.value.code == "P2028" and info.value.status == 409 and "expired" in info.value.message
    assert await count(manager) == 0


async def test_a_statement_running_past_the_timeout_is_cancelled(manager: TransactionManager) -> None:
    tx = await manager.start(caller(), timeout_ms=200)
    with pytest.raises(TransactionError, match="expired"):
        await manager.run(caller(), tx.id, lambda c: c.execute("SELECT pg_sleep(5)"))
    assert manager.open_count() == 0


async def test_another_database_cannot_use_the_transaction(manager: TransactionManager) -> None:
    tx = await manager.start(caller("db1"))
    with pytest.raises(TransactionError, match="not found"):
        await manager.run(caller("db2"), tx.id, lambda c: c.fetchval("SELECT 1"))
    with pytest.raises(TransactionError):
        await manager.commit(caller("db2"), tx.id)
    await manager.rollback(caller("db1"), tx.id)


async def test_waiting_longer_than_max_wait_for_a_connection_is_p2028(manager: TransactionManager) -> None:
    held = [await manager.start(caller()) for _ in range(2)]  # the pool has 2 connections
    with pytest.raises(TransactionError, match="Unable to start a transaction"):
        await manager.start(caller(), max_wait_ms=50)
    for tx in held:
        await manager.rollback(caller(), tx.id)


async def test_a_read_only_key_gets_a_read_only_transaction(manager: TransactionManager) -> None:
    tx = await manager.start(caller(scope="read"))
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await manager.run(caller(scope="read"), tx.id, lambda c: c.execute("INSERT INTO t VALUES (1)"))
    await manager.rollback(caller(scope="read"), tx.id)
    assert Forbidden  # mapped by the fronts through origin.dberrors


async def test_bad_isolation_levels_and_timeouts_are_refused(manager: TransactionManager) -> None:
    with pytest.raises(QueryValidationError):
        await manager.start(caller(), isolation="SNAPSHOT")
    with pytest.raises(QueryValidationError):
        await manager.start(caller(), timeout_ms=0)
