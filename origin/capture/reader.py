"""The capture reader of one database: replication stream in, event batches out to the edge.

Two loops share one replication session. `receive` decodes the stream as Postgres sends it (a
commit reaches us ~0.2 ms after it happens; nothing polls) and queues events; `push` sends them to
the edge in batches and, only once the edge answered that it stored a batch, tells Postgres the slot
may advance past the transactions it completed. A crash anywhere therefore redelivers from the last
confirmed commit, never skips; the edge drops the duplicates by position.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bwcontract.offsets import Position

from ..engine.schema import Schema
from . import decode, pgoutput
from .eventtext import InsertText, Transaction
from .pgwire import Connection, WireError, lsn_text

log = logging.getLogger("breakwater.capture")
_UINT32 = struct.Struct("!I")
SLOT_IN_USE = "55006"  # object_in_use: the replication slot is active for another walsender
# One encoder for every event (json.dumps with options builds a new one per call).
_encode = json.JSONEncoder(separators=(",", ":")).encode

SchemaSource = Callable[[bool], Awaitable[Schema]]  # refresh -> the database's schema model
Locate = Callable[[], Awaitable[str]]  # the capture DSN as it is now
Push = Callable[[str, list[str]], Awaitable[dict[str, Any]]]  # database id, event JSON texts


@dataclass(frozen=True)
class CaptureTarget:
    database_id: str
    dsn: str  # the capture role on the tenant database (may open replication sessions)
    slot: str
    publication: str
    # Added to every commit LSN to make an event's position: 0 until the database moves between
    # shared clusters, whose WAL positions are unrelated (control/moves.py chooses it so they rise).
    lsn_base: int = 0
    generation: int = 0  # bumped by each move: a reader of an older generation is replaced


@dataclass(frozen=True)
class ReaderSettings:
    batch_events: int = 1000
    batch_bytes: int = 4 * 1024 * 1024
    max_pending_events: int = 20_000  # then stop reading: TCP backpressure reaches the walsender
    status_interval: float = 10.0
    confirm_delay: float = 0.0  # fault tests widen the push→confirm window with this
    retry_initial: float = 0.05
    retry_max: float = 5.0
    # A peer known to be there, momentarily not (the edge refusing connections while it restarts,
    # the slot still held by the walsender of a reader that just died): retried at this pace, not
    # backed off, so events flow again within this long of it being back. Such a retry costs a
    # refused connect or one short round trip, and only a reader holding events makes it.
    retry_known_peer: float = 0.1
    known_peer_for: float = 30.0  # then backed off like any other failure
    relocate_after: int = 3  # failed connects in a row before asking where the database is now


@dataclass
class _Session:
    pending: deque[tuple[str, Any]] = field(default_factory=deque)  # ("e", json) | ("c", end lsn)
    pending_events: int = 0
    commits_pending: int = 0
    in_transaction: bool = False
    pushing: bool = False
    confirmed: int = 0  # the slot may advance to here: everything before is stored at the edge
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    room: asyncio.Event = field(default_factory=asyncio.Event)

    def idle(self) -> bool:
        return not (self.pending or self.pushing or self.in_transaction)


class _Unreachable(Exception):
    """No Postgres session could be opened at the target's address."""


class Reader:
    def __init__(
        self,
        target: CaptureTarget,
        push: Push,
        schema: SchemaSource,
        settings: ReaderSettings | None = None,
        locate: Locate | None = None,
    ) -> None:
        self.target = target
        self._push = push
        self._schema = schema
        self._locate = locate
        self.settings = settings or ReaderSettings()
        self.stored_through: int = 0  # last commit end LSN confirmed to Postgres (for status)
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Stream until cancelled, reconnecting with backoff (Postgres restarts, slot still held by a
        dying walsender, network errors)."""
        # Read the schema while the replication session opens: the stream's first message describes
        # a table, and resolving it must not wait for an introspection started only then.
        warm = asyncio.ensure_future(self._schema(False))
        warm.add_done_callback(lambda task: task.cancelled() or task.exception())  # retried at need
        try:
            await self._run()
        finally:
            warm.cancel()

    async def _run(self) -> None:
        delay = self.settings.retry_initial
        unreachable = 0
        in_use_since: float | None = None
        while True:
            started = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except _Unreachable as exc:
                # Asleep (hibernated), or awake on another port: after a few failures, ask.
                self.connected.clear()
                unreachable += 1
                if unreachable % self.settings.relocate_after == 0:
                    await self._relocate()
                log.debug(
                    "capture connection failed",
                    extra={"fields": {"database": self.target.database_id, "error": str(exc)}},
                )
            except WireError as exc:
                unreachable = 0
                self.connected.clear()
                log.info(
                    "capture session ended",
                    extra={"fields": {"database": self.target.database_id, "error": str(exc)}},
                )
                if exc.sqlstate == SLOT_IN_USE:
                    # The walsender of the previous reader (a restarted origin's) has not exited yet.
                    in_use_since = in_use_since or time.monotonic()
                    if time.monotonic() - in_use_since < self.settings.known_peer_for:
                        await asyncio.sleep(self.settings.retry_known_peer)
                        continue
                else:
                    in_use_since = None
            except (OSError, EOFError, asyncio.IncompleteReadError, pgoutput.ProtocolError) as exc:
                unreachable = 0
                in_use_since = None
                self.connected.clear()
                log.info(
                    "capture session ended",
                    extra={"fields": {"database": self.target.database_id, "error": str(exc)}},
                )
            except Exception:
                self.connected.clear()
                log.exception(
                    "capture session failed", extra={"fields": {"database": self.target.database_id}}
                )
            if time.monotonic() - started > 30:
                delay = self.settings.retry_initial
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.retry_max)

    async def _relocate(self) -> None:
        if self._locate is None:
            return
        try:
            dsn = await self._locate()
        except Exception as exc:  # the agent may be restarting: keep the address we have
            log.info(
                "could not ask where the database is",
                extra={"fields": {"database": self.target.database_id, "error": str(exc)}},
            )
            return
        if dsn != self.target.dsn:
            log.info("capture address changed", extra={"fields": {"database": self.target.database_id}})
            self.target = replace(self.target, dsn=dsn)

    async def _session(self) -> None:
        try:
            conn = await Connection.connect(self.target.dsn)
        except (OSError, EOFError) as exc:  # refused, timed out, or no Postgres at the other end
            raise _Unreachable(f"{self.target.database_id}: {exc!r}") from exc
        except WireError as exc:
            if exc.sqlstate.startswith("28"):
                # Not (or no longer) admitted with these credentials: the agent moved the database
                # to a capture role of its own, or to another host. Ask where it is, as when unreachable.
                raise _Unreachable(f"{self.target.database_id}: {exc}") from exc
            raise
        try:
            publication = self.target.publication.replace("'", "''").replace('"', '""')
            await conn.start_replication(
                f'START_REPLICATION SLOT "{self.target.slot}" LOGICAL 0/0 '
                f"(proto_version '1', publication_names '\"{publication}\"')"
            )
            self.connected.set()
            session = _Session()
            tasks = [
                asyncio.ensure_future(self._receive(conn, session)),
                asyncio.ensure_future(self._send(conn, session)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.connected.clear()
            conn.abort()

    async def _receive(self, conn: Connection, session: _Session) -> None:
        tables: dict[int, decode.Table] = {}
        inserts: dict[int, InsertText] = {}  # per table: its inserts' events written straight to text
        begin: pgoutput.Begin | None = None
        lsn = 0  # the position of the transaction's changes (its commit LSN, moved by lsn_base)
        when = ""
        transaction = Transaction(0, "")
        seq = 0
        queued_enough = min(self.settings.batch_events, self.settings.max_pending_events)
        while True:
            data = conn.buffered_copy()
            if data is None:
                if session.commits_pending and not conn.has_message():
                    # What completed goes out when nothing more has arrived: a busy stream's
                    # transactions that came in together go in one push (the edge's cost is mostly
                    # per push), and a lone commit goes at once.
                    session.wake.set()
                data = await conn.read_copy()
                if data is None:
                    raise EOFError("the server ended the replication stream")
            if data[25:26] == b"I" and data[:1] == b"w" and data[30:31] == b"N" and begin is not None:
                # An insert (the bulk of a busy stream): its tuple read straight into the event's text.
                writes = inserts.get(_UINT32.unpack_from(data, 26)[0])
                text = writes.event(data, 31, transaction, seq) if writes is not None else None
                if text is not None:
                    seq += 1
                    session.pending.append(("e", text))
                    session.pending_events += 1
                    if session.pending_events >= queued_enough:
                        await self._queued(session)
                    continue
            if data[:1] == b"k":
                wal_end, _, reply = struct.unpack_from("!QqB", data, 1)
                if session.idle() and wal_end > session.confirmed:
                    # Everything the walsender decoded up to wal_end reached us and is stored: the
                    # slot may move on (this keeps WAL of other busy tenants from piling up). Said
                    # at once, so a move waiting for the slot to pass its fence is not kept waiting
                    # for the next status interval.
                    session.confirmed = wal_end
                    reply = 1
                if reply:
                    self._status(conn, session.confirmed)
                continue
            if data[:1] != b"w":
                continue
            message = pgoutput.parse(data[25:])
            if isinstance(message, pgoutput.Begin):
                begin, seq, session.in_transaction = message, 0, True
                lsn = message.final_lsn + self.target.lsn_base
                when = decode.commit_time(message.commit_time_us)
                transaction = Transaction(lsn, when)
            elif isinstance(message, pgoutput.Commit):
                session.in_transaction = False
                session.pending.append(("c", message.end_lsn))
                session.commits_pending += 1
            elif isinstance(message, pgoutput.Relation):
                described = await self._resolve(message, refresh=message.oid in tables)
                tables[message.oid], inserts[message.oid] = described, InsertText(described)
            elif isinstance(message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete | pgoutput.Truncate):
                if begin is None:
                    raise pgoutput.ProtocolError("a change outside a transaction")
                oids = (
                    message.relation_oids
                    if isinstance(message, pgoutput.Truncate)
                    else (message.relation_oid,)
                )
                for oid in oids:  # a TRUNCATE of several tables: one event each
                    table = tables.get(oid)
                    if table is None:
                        raise pgoutput.ProtocolError("a change for a relation the stream never described")
                    found = decode.event(table, message, Position(lsn, seq), when)
                    seq += 1
                    session.pending.append(("e", _encode(found)))
                    session.pending_events += 1
                await self._queued(session)

    async def _queued(self, session: _Session) -> None:
        """Events were queued: wake the pusher for a full batch, wait while too many are pending."""
        if session.pending_events >= self.settings.batch_events:
            session.wake.set()
        while session.pending_events >= self.settings.max_pending_events:
            session.room.clear()
            await session.room.wait()

    async def _resolve(self, relation: pgoutput.Relation, refresh: bool) -> decode.Table:
        table = decode.resolve(relation, await self._schema(refresh))
        if not refresh and table.model_name == relation.name and not any(table.fields):
            # A table created since the schema was read: look again, once.
            table = decode.resolve(relation, await self._schema(True))
        return table

    async def _send(self, conn: Connection, session: _Session) -> None:
        while True:
            try:
                await asyncio.wait_for(session.wake.wait(), self.settings.status_interval)
            except TimeoutError:
                self._status(conn, session.confirmed)
                continue
            session.wake.clear()
            while session.commits_pending or session.pending_events >= self.settings.batch_events:
                events, completed = self._take(session)
                session.pushing = True
                try:
                    if events:
                        await self._push_until_stored(events)
                finally:
                    session.pushing = False
                session.room.set()
                if completed is not None:
                    if self.settings.confirm_delay:
                        await asyncio.sleep(self.settings.confirm_delay)
                    session.confirmed = max(session.confirmed, completed)
                    self._status(conn, session.confirmed)
                    await conn.drain()

    def _take(self, session: _Session) -> tuple[list[str], int | None]:
        """The next batch: events in order, and the end LSN of the last transaction it completes."""
        events: list[str] = []
        size = 0
        completed: int | None = None
        limit = self.settings
        while session.pending and len(events) < limit.batch_events and size < limit.batch_bytes:
            kind, item = session.pending.popleft()
            if kind == "c":
                completed = item
                session.commits_pending -= 1
            else:
                events.append(item)
                size += len(item)
                session.pending_events -= 1
        return events, completed

    async def _push_until_stored(self, events: list[str]) -> None:
        delay = self.settings.retry_initial
        refused_since: float | None = None
        while True:
            try:
                await self._push(self.target.database_id, events)
                return
            except PushError as exc:
                now = time.monotonic()
                if not exc.refused or refused_since is None:
                    log.warning(
                        "the edge did not store an event batch; retrying",
                        extra={"fields": {"database": self.target.database_id, "error": str(exc)}},
                    )
                if exc.refused:
                    refused_since = refused_since or now
                    if now - refused_since < self.settings.known_peer_for:
                        await asyncio.sleep(self.settings.retry_known_peer)
                        continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.retry_max)

    def _status(self, conn: Connection, flushed: int) -> None:
        if flushed:
            self.stored_through = max(self.stored_through, flushed)
        conn.send_status(flushed, now_us=int(time.time() * 1_000_000))

    def describe(self) -> dict[str, Any]:
        return {
            "database": self.target.database_id,
            "slot": self.target.slot,
            "connected": self.connected.is_set(),
            "confirmed": lsn_text(self.stored_through),
        }


class PushError(Exception):
    """The edge did not confirm it stored a batch (unreachable, or answered with an error).
    `refused`: the connection was refused, so the batch certainly did not reach it."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused
