"""The `EventQueue` Durable Object's logic: one per database, runtime-neutral.

It appends the origin's batches to the log (eventlog.py), serves consumers over WebSockets, and
runs maintenance (tiering to R2, retention) from its alarm. Everything a socket needs survives
hibernation in storage: a `sockets` row per connection (its subscription and cursor) and a `streams`
row per named stream (its acknowledged cursor). Messages on the wire (JSON text frames):

  server → consumer  {"type": "ready", "stream", "after", "head"}
                     {"type": "events", "events": [event, ...]}      in log order
                     {"type": "part", "offset", "index", "last", "data"}   an event too large for
                                                                     one frame, in pieces
                     {"type": "error", "code", "message"}
  consumer → server  {"type": "ack", "offset": "…"}                  cumulative

One class, longer than most, on purpose: a Durable Object's handlers (appends, sockets, delivery,
the alarm's maintenance) all read and write the same storage between awaits. What needs none of its
state lives beside it: batches (eventbatch.py), frames (eventframes.py), settings (eventsettings.py)
and the console's figures (eventfigures.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bwcontract import jsontext, offsets
from bwcontract.codes import Code
from bwcontract.offsets import ZERO, InvalidOffset, Position

from . import cursors
from .cursors import Cursor
from .eventbatch import split_batch
from .eventfigures import queue_figures
from .eventframes import frames
from .eventlog import Appended, BlobStore, EventLog, InvalidBatch, StoredEvent
from .eventsettings import ENV_NAMES as ENV_NAMES
from .eventsettings import QueueSettings as QueueSettings
from .ports import Clock, SqlStorage
from .subscription import Subscription

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sockets (id TEXT PRIMARY KEY, subscription TEXT NOT NULL,"
    " cursor TEXT NOT NULL, stream TEXT)",
    "CREATE TABLE IF NOT EXISTS streams (name TEXT PRIMARY KEY, cursor TEXT NOT NULL, socket TEXT)",
    # The API key each socket was opened with, and the keys revoked since (ALL_KEYS: the database).
    "CREATE TABLE IF NOT EXISTS socket_keys (socket TEXT PRIMARY KEY, key_id TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS revoked_keys (key_id TEXT PRIMARY KEY)",
)

CLOSE_REPLACED = 4001  # another consumer connected to the same named stream
CLOSE_REVOKED = 4401  # the socket's API key was revoked (or its database deleted)
CLOSE_BAD_MESSAGE = 4400
ALL_KEYS = "*"


class Socket(Protocol):
    def send(self, text: str) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class Sockets(Protocol):
    """The open, accepted WebSockets of this object (hibernation API: `ctx.getWebSockets`)."""

    def get(self, socket_id: str) -> Socket | None: ...


class EventQueue:
    def __init__(
        self,
        name: str,
        sql: SqlStorage,
        blobs: BlobStore,
        sockets: Sockets,
        clock: Clock,
        settings: QueueSettings,
        schedule: Callable[[float], Awaitable[None]],
    ) -> None:
        self._sql = sql
        self._sockets = sockets
        self._clock = clock
        self.settings = settings
        self._schedule = schedule
        self.log = EventLog(sql, blobs, clock, f"events/{name}", settings.limits)
        for statement in SCHEMA:
            sql.exec(statement)
        self._pumping: set[str] = set()
        # Each open socket's subscription and cursor as last saved: storage stays the truth (it is
        # what survives hibernation), this spares parsing a window's worth of offsets per page and ack.
        self._socket_state: dict[str, tuple[Subscription, Cursor]] = {}
        self._again: set[str] = set()
        self._alarm_at: float | None = None

    # --- appending (the origin's pushes) ------------------------------------------------------------

    async def append(self, body: str) -> dict[str, Any]:
        """Store a batch (`{"lengths"?: [...], "events": [...]}` in commit order, bwcontract.wire) and
        serve it; returns what was stored."""
        try:
            events, texts = split_batch(body)
            appended = await self.log.append(events, texts)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidBatch(str(exc) or "expected {events: [...]}") from None
        if appended.stored:
            await self._ensure_maintenance()
            await self.pump_all(appended if appended.whole else None)
        return {
            "stored": len(appended.stored),
            "duplicates": appended.duplicates,
            "head": appended.head.offset,
            "models": sorted({e.model for e in appended.stored}),
        }

    async def append_part(self, offset: str, index: int, count: int, text: str) -> dict[str, Any]:
        """Keep one part of an event too large for a single push; its batch follows."""
        try:
            position = Position.parse(offset)
        except InvalidOffset as exc:
            raise InvalidBatch(str(exc)) from None
        needed = await self.log.store_part(position, index, count, text)
        return {"stored": needed, "offset": offset, "part": index, "parts": count}

    # --- consumers --------------------------------------------------------------------------------

    async def open(self, socket_id: str, subscription: Subscription, key_id: str = "") -> None:
        """A consumer connected (its socket is accepted): place its cursor, greet it, serve it.

        A key revoked since the edge authenticated it (an isolate's cached answer is up to
        REVOCATION_TTL_SECONDS old) is turned away here, where revocations are recorded first."""
        if key_id and self._is_revoked(key_id):
            socket = self._sockets.get(socket_id)
            if socket is not None:
                socket.close(CLOSE_REVOKED, "the API key has been revoked")
            return
        if key_id:
            self._sql.exec(
                "INSERT OR REPLACE INTO socket_keys (socket, key_id) VALUES (?, ?)", socket_id, key_id
            )
        now = self._clock()
        head = self.log.head()
        cursor = self._initial_cursor(subscription, head, now)
        if subscription.name is not None:
            rows = self._sql.exec("SELECT socket FROM streams WHERE name = ?", subscription.name)
            previous = rows[0][0] if rows else None
            if previous and previous != socket_id:
                # One consumer per name: the newest wins (a dropped consumer's socket may linger).
                self._sql.exec("DELETE FROM sockets WHERE id = ?", previous)
                self._socket_state.pop(str(previous), None)
                old = self._sockets.get(str(previous))
                if old is not None:
                    old.close(CLOSE_REPLACED, "another consumer connected to this stream")
            self._sql.exec(
                "INSERT INTO streams (name, cursor, socket) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET socket = excluded.socket",
                subscription.name,
                json.dumps(cursor.to_json()),
                socket_id,
            )
        self._save_socket(socket_id, subscription, cursor)
        socket = self._sockets.get(socket_id)
        if socket is not None:
            socket.send(
                json.dumps(
                    {
                        "type": "ready",
                        "stream": subscription.name,
                        "after": cursor.acked.offset,
                        "head": head.offset,
                    }
                )
            )
        await self.pump(socket_id)

    def _initial_cursor(self, subscription: Subscription, head: Position, now: float) -> Cursor:
        if subscription.name is not None:
            rows = self._sql.exec("SELECT cursor FROM streams WHERE name = ?", subscription.name)
            if rows:
                return cursors.resume(Cursor.from_json(json.loads(rows[0][0])), now)
        if subscription.offset == offsets.LATEST:
            return cursors.start(head, now)
        if subscription.offset == offsets.EARLIEST:
            return cursors.start(ZERO, now)
        return cursors.start(Position.parse(subscription.offset), now)

    async def message(self, socket_id: str, text: str) -> None:
        socket = self._sockets.get(socket_id)
        try:
            message = jsontext.loads(text, 4)
            if not isinstance(message, dict) or message.get("type") != "ack":
                raise ValueError("expected {type: ack, offset}")
            position = Position.parse(str(message.get("offset")))
            loaded = self._load_socket(socket_id)
            if loaded is None:
                return
            subscription, cursor = loaded
            cursor = cursors.ack(cursor, position, self._clock())
        except (ValueError, cursors.AckError) as exc:
            if socket is not None:
                socket.send(json.dumps({"type": "error", "code": Code.STREAM_ACK, "message": str(exc)}))
            return
        self._save_socket(socket_id, subscription, cursor)
        await self.pump(socket_id)

    async def closed(self, socket_id: str) -> None:
        self._socket_state.pop(socket_id, None)
        self._sql.exec("DELETE FROM sockets WHERE id = ?", socket_id)
        self._sql.exec("DELETE FROM socket_keys WHERE socket = ?", socket_id)
        self._sql.exec("UPDATE streams SET socket = NULL WHERE socket = ?", socket_id)

    # --- revocation -------------------------------------------------------------------------------

    async def revoke(self, key_ids: list[str], everything: bool = False) -> int:
        """Close the sockets of revoked keys (of every key when the database was deleted), and turn
        those keys away from now on; returns how many sockets were closed."""
        revoked = [ALL_KEYS] if everything else key_ids
        for key_id in revoked:
            self._sql.exec("INSERT OR IGNORE INTO revoked_keys (key_id) VALUES (?)", key_id)
        if everything:
            rows = self._sql.exec("SELECT id FROM sockets")
        else:
            rows = [
                row
                for key_id in key_ids
                for row in self._sql.exec("SELECT socket FROM socket_keys WHERE key_id = ?", key_id)
            ]
        for (socket_id,) in rows:
            socket = self._sockets.get(str(socket_id))
            if socket is not None:
                socket.close(CLOSE_REVOKED, "the API key has been revoked")
            await self.closed(str(socket_id))
        return len(rows)

    def _is_revoked(self, key_id: str) -> bool:
        return bool(
            self._sql.exec("SELECT 1 FROM revoked_keys WHERE key_id IN (?, ?) LIMIT 1", key_id, ALL_KEYS)
        )

    def _load_socket(self, socket_id: str) -> tuple[Subscription, Cursor] | None:
        cached = self._socket_state.get(socket_id)
        if cached is not None:
            return cached
        rows = self._sql.exec("SELECT subscription, cursor FROM sockets WHERE id = ?", socket_id)
        if not rows:
            return None
        loaded = Subscription.from_json(json.loads(rows[0][0])), Cursor.from_json(json.loads(rows[0][1]))
        self._socket_state[socket_id] = loaded
        return loaded

    def _save_socket(self, socket_id: str, subscription: Subscription, cursor: Cursor) -> None:
        state = json.dumps(cursor.to_json())
        self._sql.exec(
            "INSERT INTO sockets (id, subscription, cursor, stream) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor",
            socket_id,
            json.dumps(subscription.to_json()),
            state,
            subscription.name,
        )
        if subscription.name is not None:
            # Only the acknowledged position is the stream's; in-flight events are sent again next time.
            saved = Cursor(cursor.acked, cursor.acked, (), cursor.active_at)
            self._sql.exec(
                "UPDATE streams SET cursor = ? WHERE name = ? AND socket = ?",
                json.dumps(saved.to_json()),
                subscription.name,
                socket_id,
            )
        self._socket_state[socket_id] = (subscription, cursor)

    # --- serving ----------------------------------------------------------------------------------

    async def pump_all(self, fresh: Appended | None = None) -> None:
        for (socket_id,) in self._sql.exec("SELECT id FROM sockets"):
            await self.pump(str(socket_id), fresh)

    async def pump(self, socket_id: str, fresh: Appended | None = None) -> None:
        """Send what this socket may receive now. Re-entrant calls fold into the running one.
        `fresh`: events just appended, served as they are to a socket that has seen all before them."""
        if socket_id in self._pumping:
            self._again.add(socket_id)
            return
        self._pumping.add(socket_id)
        try:
            pages = 0
            while True:
                self._again.discard(socket_id)
                progressed = await self._serve_page(socket_id, fresh)
                fresh = None
                pages += 1
                if pages >= self.settings.pump_pages and (progressed or socket_id in self._again):
                    await self._schedule_soon()  # a long backlog continues from the alarm
                    return
                if not progressed and socket_id not in self._again:
                    return
        finally:
            self._pumping.discard(socket_id)

    async def _serve_page(self, socket_id: str, fresh: Appended | None = None) -> bool:
        loaded = self._load_socket(socket_id)
        socket = self._sockets.get(socket_id)
        if loaded is None or socket is None:
            if loaded is not None:
                await self.closed(socket_id)  # the runtime no longer knows the socket
            return False
        subscription, cursor = loaded
        room = cursors.room(cursor, subscription.window)
        # Refill in bulk: a consumer acknowledging one event at a time must not cost a read each.
        if room <= 0 or (cursor.inflight and room < max(1, subscription.window // 4)):
            return False
        selective = subscription.where or subscription.models or len(subscription.actions) < 3
        limit = self.settings.scan_limit if selective else min(self.settings.scan_limit, room)
        if fresh is not None and fresh.after == cursor.scanned:
            page = fresh.stored[:limit]  # what a read would return, without reading it back
        else:
            page = await self.log.read_after(cursor.scanned, limit)
        if not page:
            return False
        reloaded = self._load_socket(socket_id)  # the read awaited: an ack may have come in
        if reloaded is None or reloaded[1].scanned != cursor.scanned:
            return reloaded is not None
        cursor = reloaded[1]
        room = cursors.room(cursor, subscription.window)
        chosen: list[StoredEvent] = []
        scanned_to = cursor.scanned
        for stored in page:
            if len(chosen) >= room:
                break
            scanned_to = stored.position
            if self._wanted(subscription, stored):
                chosen.append(stored)
        for frame in frames(chosen, self.settings.frame_bytes):
            socket.send(frame)
        cursor = cursors.sent(cursor, [e.position for e in chosen], scanned_to, self._clock())
        self._save_socket(socket_id, subscription, cursor)
        return True

    @staticmethod
    def _wanted(subscription: Subscription, stored: StoredEvent) -> bool:
        if subscription.models and stored.model not in subscription.models:
            return False
        if stored.action not in subscription.actions:
            return False
        if not subscription.where:
            return True
        return subscription.wants(json.loads(stored.body))

    # --- figures (the console's) ------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        return queue_figures(self._sql, self.log, self._clock())

    # --- maintenance (the alarm) ------------------------------------------------------------------

    async def _ensure_maintenance(self) -> None:
        now = self._clock()
        if self._alarm_at is None or self._alarm_at < now:
            await self._set_alarm(now + self.settings.maintenance_seconds)

    async def _schedule_soon(self) -> None:
        await self._set_alarm(self._clock())

    async def _set_alarm(self, at: float) -> None:
        if self._alarm_at is not None and self._alarm_at >= self._clock() and self._alarm_at <= at:
            return
        self._alarm_at = at
        await self._schedule(at)

    async def alarm(self) -> dict[str, int]:
        """Expire idle named streams and old events, move the cold tail to R2, finish long serving."""
        self._alarm_at = None
        now = self._clock()
        dropped = 0
        for name, state, socket in self._sql.exec("SELECT name, cursor, socket FROM streams"):
            cursor = Cursor.from_json(json.loads(state))
            if socket is None and cursors.idle_for(cursor, now) > self.settings.stream_ttl_seconds:
                self._sql.exec("DELETE FROM streams WHERE name = ?", name)
                dropped += 1
        held = [Cursor.from_json(json.loads(r[0])) for r in self._sql.exec("SELECT cursor FROM streams")]
        held += [Cursor.from_json(json.loads(r[0])) for r in self._sql.exec("SELECT cursor FROM sockets")]
        expired = await self.log.expire(cursors.retention_floor(held, self.log.head()))
        segments = await self.log.compact()
        await self.pump_all()
        if self.log.tier1_count() or self._sql.exec("SELECT 1 FROM segments LIMIT 1"):
            await self._set_alarm(self._clock() + self.settings.maintenance_seconds)
        return {"expired": expired, "segments": segments, "streams_dropped": dropped}
