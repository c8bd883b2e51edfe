"""Which databases this origin process captures: enabling capture, and leadership across processes.

Any number of origin processes run a supervisor. Each holds one control-plane connection on which it
takes a session advisory lock per captured database (`pg_try_advisory_lock`); whoever holds a
database's lock runs its reader. When a process dies, Postgres drops its session and its locks, and
another process takes the database over at its next round (every `takeover_interval`), or at once
when told through NOTIFY. A process that loses its lock connection stops all its readers first: it
can no longer know it leads. The replication slot itself admits one reader at a time as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg

from bwservice.tasks import cancel_and_wait

from ..slots import CHANNEL, ENABLE_LOCK, ensure_slot, lock_key
from .reader import CaptureTarget, Locate, Push, Reader, ReaderSettings, SchemaSource

log = logging.getLogger("breakwater.capture")

LEADER_LOCK = 0x42574344  # "BWCD": one reader per database


def slot_name(database_id: str) -> str:
    return f"bw_{database_id}"


class CaptureHosts(Protocol):
    """The host agents' capture calls, each sent to the database's own host (control.HostBook), or
    to one agent (control.HostsClient)."""

    async def enable_capture(self, database_id: str) -> dict[str, Any]: ...

    async def capture_address(self, database_id: str) -> str: ...

    async def disable_capture(self, database_id: str) -> None: ...


# What the lock session can fail with; any of them means the session is no longer to be trusted.
_LOCK_SESSION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


class CaptureSupervisor:
    def __init__(
        self,
        control_dsn: str,
        control: asyncpg.Pool,
        hosts: CaptureHosts,
        push: Push,
        schema_source: Callable[[str], SchemaSource],
        settings: ReaderSettings | None = None,
        takeover_interval: float = 1.0,
    ) -> None:
        self._control_dsn = control_dsn
        self._control = control
        self._hosts = hosts
        self._push = push
        self._schema_source = schema_source
        self.settings = settings or ReaderSettings()
        self._interval = takeover_interval
        self._locks: asyncpg.Connection | None = None
        # The lock session is one connection: the leadership loop and disable() take turns on it.
        self._locks_turn = asyncio.Lock()
        self._readers: dict[str, tuple[Reader, asyncio.Task[None]]] = {}
        self._enabled: set[str] = set()
        self._poke = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop_task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        await cancel_and_wait(self._loop_task)
        await self._stop_all_readers()
        if self._locks is not None:
            # Closing the session releases its locks; others take over at once through NOTIFY.
            with contextlib.suppress(Exception):
                await self._locks.execute("SELECT pg_notify($1, 'released')", CHANNEL)
            with contextlib.suppress(Exception):
                await self._locks.close()
            self._locks = None

    def leading(self) -> list[str]:
        return sorted(self._readers)

    def reader(self, database_id: str) -> Reader | None:
        found = self._readers.get(database_id)
        return found[0] if found else None

    # --- enabling ---------------------------------------------------------------------------------

    async def enable(self, database_id: str) -> None:
        """Capture `database_id` from now on (idempotent). Returns once its slot exists, so every
        change committed after this call will be delivered."""
        if database_id in self._enabled:
            return
        async with self._control.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", ENABLE_LOCK, lock_key(database_id))
            found = await conn.fetchval("SELECT 1 FROM capture_databases WHERE database_id = $1", database_id)
            if not found:
                setup = await self._hosts.enable_capture(database_id)
                slot = slot_name(database_id)
                await ensure_slot(str(setup["dsn"]), slot)
                await conn.execute(
                    "INSERT INTO capture_databases (database_id, dsn, slot, publication)"
                    " VALUES ($1, $2, $3, $4)",
                    database_id,
                    setup["dsn"],
                    slot,
                    setup["publication"],
                )
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, database_id)
                log.info("capture enabled", extra={"fields": {"database": database_id, "slot": slot}})
        self._enabled.add(database_id)
        self._poke.set()

    async def disable(self, database_id: str) -> None:
        """Stop capturing and drop the slot (before the database itself is dropped)."""
        self._enabled.discard(database_id)
        deleted = await self._control.fetchval(
            "DELETE FROM capture_databases WHERE database_id = $1 RETURNING 1", database_id
        )
        if not deleted:
            return
        await self._control.execute("SELECT pg_notify($1, $2)", CHANNEL, database_id)
        async with self._locks_turn:
            await self._release(database_id)
        await self._hosts.disable_capture(database_id)

    # --- leadership -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                async with self._locks_turn:
                    if self._locks is None or self._locks.is_closed():
                        await self._connect_locks()
                    await self._reconcile()
            except asyncio.CancelledError:
                raise
            except _LOCK_SESSION_ERRORS as exc:
                # A lock session in any doubtful state is dropped; the next round starts a new one.
                log.warning("capture leadership is in doubt", extra={"fields": {"error": str(exc)}})
                await self._stop_all_readers()
                if self._locks is not None:
                    self._locks.terminate()
                    self._locks = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self._interval)
            self._poke.clear()

    async def _connect_locks(self) -> None:
        await self._stop_all_readers()  # locks of an earlier session are gone with it
        self._locks = await asyncpg.connect(self._control_dsn)
        self._locks.add_termination_listener(lambda _conn: self._on_lock_session_lost())
        await self._locks.add_listener(CHANNEL, lambda *_args: self._poke.set())

    def _on_lock_session_lost(self) -> None:
        # Stop reading at once: another process may hold the lock by the time we notice again.
        for _reader, task in self._readers.values():
            task.cancel()
        self._poke.set()

    async def _reconcile(self) -> None:
        assert self._locks is not None
        rows = await self._locks.fetch(
            "SELECT c.database_id, c.dsn, c.slot, c.publication, c.lsn_base, c.generation "
            "FROM capture_databases c JOIN databases d ON d.id = c.database_id WHERE d.deleted_at IS NULL"
        )
        wanted = {
            r["database_id"]: CaptureTarget(
                r["database_id"],
                r["dsn"],
                r["slot"],
                r["publication"],
                int(r["lsn_base"]),
                int(r["generation"]),
            )
            for r in rows
        }
        for database_id in list(self._readers):
            reader, task = self._readers[database_id]
            moved = database_id in wanted and wanted[database_id].generation != reader.target.generation
            if database_id not in wanted or task.done() or moved:
                # Moved to another host: the reader of the new slot starts once the old one stopped.
                await self._release(database_id)
        free = [database_id for database_id in wanted if database_id not in self._readers]
        if not free:
            return
        # One round trip per round, however many databases other processes lead.
        won = await self._locks.fetch(
            "SELECT d FROM unnest($1::text[], $2::int[]) AS t(d, k) WHERE pg_try_advisory_lock($3, k)",
            free,
            [lock_key(d) for d in free],
            LEADER_LOCK,
        )
        for row in won:
            database_id, target = row["d"], wanted[row["d"]]
            if database_id not in self._readers:
                reader = Reader(
                    target,
                    self._push,
                    self._schema_source(database_id),
                    self.settings,
                    self._locator(database_id),
                )
                self._readers[database_id] = (reader, asyncio.ensure_future(reader.run()))
                log.info("leading capture", extra={"fields": {"database": database_id}})

    def _locator(self, database_id: str) -> Locate:
        """Ask the host agent where the database is now, and remember it for the next leader."""

        async def locate() -> str:
            dsn = await self._hosts.capture_address(database_id)
            await self._control.execute(
                "UPDATE capture_databases SET dsn = $2 WHERE database_id = $1 AND dsn <> $2", database_id, dsn
            )
            return dsn

        return locate

    async def _release(self, database_id: str) -> None:
        found = self._readers.pop(database_id, None)
        if found is None:
            return
        found[1].cancel()
        await asyncio.gather(found[1], return_exceptions=True)
        if self._locks is not None and not self._locks.is_closed():
            with contextlib.suppress(*_LOCK_SESSION_ERRORS):
                await self._locks.execute(
                    "SELECT pg_advisory_unlock($1, $2)", LEADER_LOCK, lock_key(database_id)
                )

    async def _stop_all_readers(self) -> None:
        readers, self._readers = self._readers, {}
        for _reader, task in readers.values():
            task.cancel()
        await asyncio.gather(*(task for _r, task in readers.values()), return_exceptions=True)
