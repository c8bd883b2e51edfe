"""Interactive transactions that span requests (Prisma 6 itx, Prisma 7 /transaction, /v1).

A transaction holds one leased connection in this origin process; its id names the process
(`bwcontract.txid`) so the edge routes follow-ups here. It ends by commit, rollback, or its timeout,
which rolls it back; afterwards its id answers P2028. Operations on one transaction run one at a time.

Its timeout may not exceed the database's `transaction_timeout_ms` (P2028 beyond). Each operation is
bounded like a request (guard.py: query timeout, response bytes) and by the transaction's deadline.
The transaction is rolled back (and its id answers P2028 saying why) when it expires, when an
operation has to be stopped because it ran past the query timeout, or when the pool takes its
connection back for a database below its fair share (pool/host.py, rule 4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg

from bwcontract import txid
from bwcontract.codes import Code

from . import readonly
from .caller import Caller
from .dberrors import map_database_error
from .errors import BreakwaterError, QueryValidationError
from .guard import GRACE_SECONDS, KILL_AFTER_SECONDS, Stop, bounded
from .limits import Limits
from .pool.errors import PoolTimeout
from .tenants import Lease, Tenants

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
    code = Code.TRANSACTION


@dataclass
class Transaction:
    id: str
    database_id: str
    lease: Lease
    deadline: float  # loop time
    timeout_ms: int
    read_only: bool = False  # a read-only key's: its connection is the read-only role's
    limits: Limits = field(default_factory=Limits)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state: str = "open"  # open | committed | rolled_back | expired | reclaimed | timed_out | revoked
    expiry: asyncio.TimerHandle | None = None
    running: Stop | None = None  # the operation in progress, if any
    key_id: str = ""  # the API key that opened it: revoking the key rolls it back

    @property
    def conn(self) -> asyncpg.Connection:
        return self.lease.conn


class TransactionManager:
    def __init__(self, tenants: Tenants, origin_id: str) -> None:
        self._tenants = tenants
        self._origin_id = origin_id
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
                    code=Code.VALUE_INCONSISTENT,
                )
        limits = await self._tenants.limits.of(caller.database_id)
        if timeout_ms <= 0:
            raise QueryValidationError(
                f"Transaction timeout must be a positive number of ms, not {timeout_ms}."
            )
        if timeout_ms > limits.transaction_timeout_ms:
            raise TransactionError(
                f"Transaction API error: the transaction timeout ({timeout_ms} ms) is above this "
                f"database's maximum of {limits.transaction_timeout_ms} ms.",
                meta={"transaction_timeout_ms": limits.transaction_timeout_ms},
                hint="Ask for a shorter timeout, or do less work in one interactive transaction.",
            )
        read_only = not caller.can_write()
        try:
            lease = await self._tenants.lease(
                caller.database_id, timeout=max(max_wait_ms, 1) / 1000, read_only=read_only
            )
        except PoolTimeout:
            raise TransactionError(
                f"Transaction API error: Unable to start a transaction in the given time ({max_wait_ms} ms).",
                hint="Raise maxWait, or use fewer concurrent transactions.",
            ) from None
        try:
            if read_only:
                await readonly.begin(lease.conn, level)  # its snapshot taken too (see readonly.py)
            else:
                await lease.conn.execute(
                    "BEGIN" + (f" ISOLATION LEVEL {level}" if level else ""), timeout=KILL_AFTER_SECONDS
                )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            await lease.release()
            if isinstance(exc, asyncpg.PostgresError):
                raise map_database_error(exc) from None
            raise
        loop = asyncio.get_running_loop()
        tx = Transaction(
            id=txid.make(self._origin_id),
            database_id=caller.database_id,
            lease=lease,
            deadline=loop.time() + timeout_ms / 1000,
            timeout_ms=timeout_ms,
            read_only=read_only,
            limits=limits,
            key_id=caller.key_id,
        )
        tx.expiry = loop.call_at(tx.deadline, self._end_soon, tx, "expired")
        lease.loan.stop = lambda: self._end_soon(tx, "reclaimed")
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
            return await self._bounded(tx, operation)

    async def _bounded(
        self,
        tx: Transaction,
        operation: Callable[[asyncpg.Connection], Awaitable[T]],
        *,
        ending: bool = False,
    ) -> T:
        """One operation of an open transaction (its lock held), within the request bounds and the
        transaction's deadline; an operation that has to be stopped ends the transaction. COMMIT and
        ROLLBACK (`ending`) are not stopped for expiry or the fair share: once sent, their outcome is
        Postgres's to report; only the query timeout stops them (a tenant's deferred trigger that runs
        on, with statement_timeout turned off), and Postgres then rolls the transaction back."""
        loop = asyncio.get_running_loop()
        if tx.state == "open" and loop.time() >= tx.deadline:
            await self._close(tx, "expired", rollback=True)  # its expiry is waiting for the lock we hold
        if tx.state != "open":
            raise TransactionError(_ended_message(tx.id, tx.state))
        query_deadline = loop.time() + tx.limits.query_timeout_ms / 1000 + GRACE_SECONDS
        expires_first = tx.deadline <= query_deadline and not ending
        scope: Stop | None = None
        try:
            async with bounded(
                tx.conn,
                tx.limits,
                deadline=query_deadline if ending else min(query_deadline, tx.deadline),
                deadline_error=TransactionError(_ended_message(tx.id, "expired")) if expires_first else None,
                deadline_why="expired" if expires_first else "timed_out",
            ) as scope:
                tx.running = None if ending else scope
                return await operation(tx.conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, BreakwaterError) as exc:
            if _session_ended(exc) or (tx.conn.is_closed() and not isinstance(exc, BreakwaterError)):
                # Postgres ended the session (idle in the transaction too long, shut down) or the
                # connection broke: the transaction is gone, whatever the statement said.
                tx.conn.terminate()
                raise TransactionError(_ended_message(tx.id, "aborted")) from None
            raise
        finally:
            tx.running = None
            why = scope.why if scope is not None and scope.reason is not None else ""
            if tx.id in self._open and (why or tx.conn.is_closed()):
                # Stopped part-way (expired, past the query timeout, taken back) or its connection
                # ended (a result over the size limit aborts it): it cannot go on.
                await self._close(tx, why or "aborted", rollback=True)

    async def commit(self, caller: Caller, tx_id: str) -> None:
        await self._finish(caller, tx_id, "COMMIT", "committed")

    async def rollback(self, caller: Caller, tx_id: str) -> None:
        await self._finish(caller, tx_id, "ROLLBACK", "rolled_back")

    async def _finish(self, caller: Caller, tx_id: str, statement: str, outcome: str) -> None:
        tx = self.get(caller, tx_id)
        async with tx.lock:
            try:
                await self._bounded(tx, lambda conn: conn.execute(statement), ending=True)
            except asyncpg.PostgresError as exc:
                await self._close(tx, "rolled_back", rollback=True)
                raise map_database_error(exc) from None
            await self._close(tx, outcome, rollback=False)

    def _end_soon(self, tx: Transaction, why: str) -> asyncio.Task[None] | None:
        """Expiry, revocation or the pool taking the connection back: stop what runs, then roll back."""
        if tx.state != "open":
            return None
        if tx.running is not None:
            error = TransactionError(_ended_message(tx.id, why))
            log.info("transaction ended mid-statement", extra={"fields": {"tx": tx.id, "why": why}})
            tx.running.stop(error, why)
        task = asyncio.ensure_future(self._end(tx, why))
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)
        return task

    async def _end(self, tx: Transaction, why: str) -> None:
        async with tx.lock:
            if tx.id in self._open:
                await self._close(tx, why, rollback=True)

    async def revoke(self, key_ids: Collection[str], database_ids: Collection[str] = ()) -> int:
        """Roll back the open transactions of revoked keys and deleted databases, at once."""
        doomed = [tx for tx in self._open.values() if tx.key_id in key_ids or tx.database_id in database_ids]
        ending = [self._end_soon(tx, "revoked") for tx in doomed]
        await asyncio.gather(*(task for task in ending if task is not None), return_exceptions=True)
        return len(doomed)

    def open_keys(self) -> set[tuple[str, str]]:
        """(key id, database id) of every open transaction, for checking the keys are still live."""
        return {(tx.key_id, tx.database_id) for tx in self._open.values()}

    async def _close(self, tx: Transaction, outcome: str, *, rollback: bool) -> None:
        tx.state = outcome
        if tx.expiry is not None:
            tx.expiry.cancel()
        self._open.pop(tx.id, None)
        self._ended[tx.id] = outcome
        if len(self._ended) > 10_000:
            for old in list(self._ended)[:5_000]:
                del self._ended[old]
        if rollback and not tx.conn.is_closed():
            try:
                # Waits for a cancelled statement to end first; one that does not, ends the session.
                await tx.conn.execute("ROLLBACK", timeout=KILL_AFTER_SECONDS)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                # A broken connection: drop it rather than return it to the pool dirty.
                tx.conn.terminate()
        await tx.lease.release()

    async def close_all(self) -> None:
        for tx in list(self._open.values()):
            async with tx.lock:
                await self._close(tx, "rolled_back", rollback=True)

    def open_count(self) -> int:
        return len(self._open)


# Errors Postgres sends as it ends a session: idle in transaction too long, terminated, shut down.
_SESSION_ENDING = frozenset({"25P03", "57P01", "57P02", "57P03"})


def _session_ended(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, BreakwaterError):
        database = exc.meta.get("database")
        sqlstate = database.get("sqlstate") if isinstance(database, dict) else exc.meta.get("code")
    return sqlstate in _SESSION_ENDING


def _ended_message(tx_id: str, ended: str | None) -> str:
    if ended == "revoked":
        return (
            f"Transaction API error: Transaction already closed: the transaction {tx_id} was rolled back "
            "because its API key was revoked."
        )
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
    if ended == "reclaimed":
        return (
            f"Transaction API error: Transaction already closed: it was rolled back because its database "
            f"held more than its fair share of the host's connections while other databases waited. "
            f"(id {tx_id})"
        )
    if ended == "aborted":
        return (
            f"Transaction API error: Transaction already closed: its session ended (idle in the "
            f"transaction longer than the database allows, a result over the response size limit, or "
            f"a broken connection), so it was rolled back. (id {tx_id})"
        )
    if ended == "timed_out":
        return (
            f"Transaction API error: Transaction already closed: a statement ran past the query timeout, "
            f"was stopped, and the transaction was rolled back. (id {tx_id})"
        )
    if ended in ("committed", "rolled_back"):
        verb = "committed" if ended == "committed" else "rolled back"
        return f"Transaction API error: Transaction already closed: the transaction {tx_id} was {verb}."
    return (
        "Transaction API error: Transaction not found. Transaction ID is invalid, refers to an old "
        "closed transaction Prisma doesn't have information about anymore, or was obtained before "
        f"disconnecting. ({tx_id})"
    )
