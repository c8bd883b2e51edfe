"""Interactive transactions that span requests (Prisma 6 itx, Prisma 7 /transaction, /v1).

A transaction holds one leased connection in this origin process; its id names the process
(`bwedge.txid`) so the edge routes follow-ups here. It ends by commit, rollback, or its timeout,
which rolls it back; afterwards its id answers P2028. Operations on one transaction run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg

from bwedge import txid

from .caller import Caller
from .dberrors import map_database_error
from .errors import BreakwaterError, QueryValidationError
from .tenants import Lease, PoolTimeout, Tenants

log = logging.getLogger("breakwater.transactions")
T = TypeVar("T")

# Prisma 7 spells levels in SQL, Prisma 6 in PascalCase; Postgres has no SNAPSHOT.
ISOLATION_LEVELS = {
    "READ UNCOMMITTED": "READ UNCOMMITTED",
    "READ COMMITTED": "READ COMMITTED",
    "REPEATABLE READ": "REPEATABLE READ",
    "SERIALIZABLE": "SERIALIZABLE",
    "ReadUncommitted": "READ UNCOMMITTED",
    "ReadCommitted": "READ COMMITTED",
    "RepeatableRead": "REPEATABLE READ",
    "Serializable": "SERIALIZABLE",
}


class TransactionError(BreakwaterError):
    status = 409
    code = "P2028"


@dataclass
class Transaction:
    id: str
    database_id: str
    lease: Lease
    deadline: float
    timeout_ms: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state: str = "open"  # open | committed | rolled_back | expired | revoked
    expiry: asyncio.TimerHandle | None = None
    key_id: str = ""  # the API key that opened it: revoking the key rolls it back

    @property
    def conn(self) -> asyncpg.Connection:
        return self.lease.conn


class TransactionManager:
    def __init__(self, tenants: Tenants, origin_id: str, max_timeout_ms: int = 15 * 60_000) -> None:
        self._tenants = tenants
        self._origin_id = origin_id
        self._max_timeout_ms = max_timeout_ms
        self._open: dict[str, Transaction] = {}
        self._ended: dict[str, str] = {}  # id -> how it ended, for clear errors
        self._expiring: set[asyncio.Task[None]] = set()

    async def start(
        self,
        caller: Caller,
        *,
        max_wait_ms: int = 2000,
        timeout_ms: int = 5000,
        isolation: str | None = None,
    ) -> Transaction:
        level = None
        if isolation is not None:
            level = ISOLATION_LEVELS.get(isolation)
            if level is None:
                raise QueryValidationError(
                    f"Invalid isolation level `{isolation}`; Postgres supports "
                    "ReadUncommitted, ReadCommitted, RepeatableRead and Serializable.",
                    code="P2023",
                )
        if timeout_ms <= 0 or timeout_ms > self._max_timeout_ms:
            raise QueryValidationError(
                f"Transaction timeout must be between 1 and {self._max_timeout_ms} ms, not {timeout_ms}."
            )
        try:
            lease = await self._tenants.lease(caller.database_id, timeout=max(max_wait_ms, 1) / 1000)
        except PoolTimeout:
            raise TransactionError(
                f"Transaction API error: Unable to start a transaction in the given time ({max_wait_ms} ms).",
                hint="Raise maxWait, or use fewer concurrent transactions.",
            ) from None
        begin = "BEGIN" + (f" ISOLATION LEVEL {level}" if level else "")
        if not caller.can_write():
            begin += " READ ONLY"
        try:
            await lease.conn.execute(begin)
        except asyncpg.PostgresError as exc:
            await lease.release()
            raise map_database_error(exc) from None
        tx = Transaction(
            id=txid.make(self._origin_id),
            database_id=caller.database_id,
            lease=lease,
            deadline=time.monotonic() + timeout_ms / 1000,
            timeout_ms=timeout_ms,
            key_id=caller.key_id,
        )
        tx.expiry = asyncio.get_running_loop().call_later(timeout_ms / 1000, self._expire_soon, tx)
        self._open[tx.id] = tx
        return tx

    def get(self, caller: Caller, tx_id: str) -> Transaction:
        tx = self._open.get(tx_id)
        # Another database's transaction is reported exactly like an unknown one.
        if tx is None or tx.database_id != caller.database_id:
            ended = self._ended.get(tx_id) if tx is None else None
            raise TransactionError(_ended_message(tx_id, ended))
        return tx

    async def run(
        self, caller: Caller, tx_id: str, operation: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> T:
        tx = self.get(caller, tx_id)
        async with tx.lock:
            if tx.state != "open":
                raise TransactionError(_ended_message(tx_id, tx.state))
            try:
                return await operation(tx.conn)
            except Exception as exc:
                if tx.state in ("expired", "revoked"):
                    if tx.id in self._open:
                        await self._close(tx, tx.state, rollback=True)
                    raise TransactionError(_ended_message(tx_id, tx.state)) from exc
                raise

    async def commit(self, caller: Caller, tx_id: str) -> None:
        await self._finish(caller, tx_id, "COMMIT", "committed")

    async def rollback(self, caller: Caller, tx_id: str) -> None:
        await self._finish(caller, tx_id, "ROLLBACK", "rolled_back")

    async def _finish(self, caller: Caller, tx_id: str, statement: str, outcome: str) -> None:
        tx = self.get(caller, tx_id)
        async with tx.lock:
            if tx.state != "open":
                raise TransactionError(_ended_message(tx_id, tx.state))
            try:
                await tx.conn.execute(statement)
            except asyncpg.PostgresError as exc:
                await self._close(tx, "rolled_back", rollback=True)
                raise map_database_error(exc) from None
            await self._close(tx, outcome, rollback=False)

    def _expire_soon(self, tx: Transaction) -> None:
        task = asyncio.ensure_future(self._expire(tx))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def _expire(self, tx: Transaction, outcome: str = "expired") -> None:
        if tx.state != "open":
            return
        if tx.lock.locked():
            # A statement is running past the deadline: cancel it so the rollback can proceed.
            with_pid = tx.conn.get_server_pid()
            log.info(
                "transaction ended mid-statement",
                extra={"fields": {"tx": tx.id, "pid": with_pid, "outcome": outcome}},
            )
            tx.state = outcome
            await self._cancel_backend(tx)
        async with tx.lock:
            if tx.id in self._open:
                await self._close(tx, outcome, rollback=True)

    async def revoke(self, key_ids: Collection[str], database_ids: Collection[str] = ()) -> int:
        """Roll back the open transactions of revoked keys and deleted databases, at once."""
        doomed = [tx for tx in self._open.values() if tx.key_id in key_ids or tx.database_id in database_ids]
        for tx in doomed:
            await self._expire(tx, "revoked")
        return len(doomed)

    def open_keys(self) -> set[tuple[str, str]]:
        """(key id, database id) of every open transaction, for checking the keys are still live."""
        return {(tx.key_id, tx.database_id) for tx in self._open.values()}

    async def _cancel_backend(self, tx: Transaction) -> None:
        try:
            async with self._tenants.connection(tx.database_id, timeout=2) as other:
                await other.execute("SELECT pg_cancel_backend($1)", tx.conn.get_server_pid())
        except (BreakwaterError, asyncpg.PostgresError, OSError) as exc:
            log.warning(
                "could not cancel an expired transaction's statement", extra={"fields": {"error": str(exc)}}
            )

    async def _close(self, tx: Transaction, outcome: str, *, rollback: bool) -> None:
        tx.state = outcome
        if tx.expiry is not None:
            tx.expiry.cancel()
        self._open.pop(tx.id, None)
        self._ended[tx.id] = outcome
        if len(self._ended) > 10_000:
            for old in list(self._ended)[:5_000]:
                del self._ended[old]
        if rollback:
            try:
                await tx.conn.execute("ROLLBACK")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                # A broken connection: drop it rather than return it to the pool dirty.
                tx.conn.terminate()
        await tx.lease.release()

    async def close_all(self) -> None:
        for tx in list(self._open.values()):
            async with tx.lock:
                await self._close(tx, "rolled_back", rollback=True)

    def open_count(self) -> int:
        return len(self._open)


def _ended_message(tx_id: str, ended: str | None) -> str:
    if ended == "revoked":
        return (
            f"Transaction API error: Transaction already closed: the transaction {tx_id} was rolled back "
            "because its API key was revoked."
        )
    if ended == "expired":
        return (
            f"Transaction API error: Transaction already closed: A query cannot be executed on an expired "
            f"transaction. The timeout for this transaction was exceeded. (id {tx_id})"
        )
    if ended in ("committed", "rolled_back"):
        verb = "committed" if ended == "committed" else "rolled back"
        return f"Transaction API error: Transaction already closed: the transaction {tx_id} was {verb}."
    return (
        "Transaction API error: Transaction not found. Transaction ID is invalid, refers to an old "
        "closed transaction Prisma doesn't have information about anymore, or was obtained before "
        f"disconnecting. ({tx_id})"
    )
