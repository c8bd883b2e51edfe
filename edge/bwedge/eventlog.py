"""One database's ordered event log, in two tiers.

Tier 1 is the Durable Object's SQLite storage: the hot tail, one row per event, keyed by position.
Tier 2 is R2: `compact` moves the oldest rows out in segments (JSON lines), and an event too large
for a tier-1 value is written to R2 on its own and kept in tier 1 as a reference. An event too large
for one push (a Durable Object RPC carries at most 32 MiB) arrives as parts first (`store_part`, each
its own R2 object) and then as a stub in its batch that names how many parts it has (`$parts`);
reading joins them. `read_after` reads across both tiers, so consumers never see the difference.
Appends are idempotent: an event at or before the head is a duplicate (redelivery after a crash) and
is dropped, and positions must rise.

SQL runs synchronously between awaits, so every check-and-write section is atomic in a Durable
Object; R2 writes happen before the rows that point at them.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from bwcontract.offsets import ZERO, Position
from bwcontract.wire import PARTS_KEY

from .ports import SqlStorage

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (lsn INTEGER NOT NULL, seq INTEGER NOT NULL, model TEXT NOT NULL,"
    " action TEXT NOT NULL, body TEXT, blob TEXT, size INTEGER NOT NULL, stored_at REAL NOT NULL,"
    " PRIMARY KEY (lsn, seq)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS segments (first_lsn INTEGER NOT NULL, first_seq INTEGER NOT NULL,"
    " last_lsn INTEGER NOT NULL, last_seq INTEGER NOT NULL, blob TEXT NOT NULL, count INTEGER NOT NULL,"
    " stored_at REAL NOT NULL, blobs INTEGER NOT NULL, PRIMARY KEY (first_lsn, first_seq)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Parts of a large event received ahead of its batch; a row goes once the event is stored.
    "CREATE TABLE IF NOT EXISTS parts (lsn INTEGER NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " size INTEGER NOT NULL, PRIMARY KEY (lsn, seq, idx)) WITHOUT ROWID",
)

_PARTS_BLOB = re.compile(r"^(?P<base>.+)\.parts-(?P<count>[0-9]+)$")


def blob_keys(blob: str) -> list[str]:
    """The R2 objects behind a tier-1 reference: itself, or each part of a parted event."""
    found = _PARTS_BLOB.match(blob)
    if found is None:
        return [blob]
    return [f"{found['base']}.part-{i}" for i in range(int(found["count"]))]


class BlobStore(Protocol):
    """R2 (or local files): text objects by key."""

    async def put(self, key: str, text: str) -> None: ...

    async def get(self, key: str) -> str | None: ...

    async def delete(self, keys: list[str]) -> None: ...


class InvalidBatch(ValueError):
    pass


@dataclass(frozen=True)
class LogLimits:
    inline_limit: int = 1_000_000  # bytes; DO SQLite caps a value at 2 MB
    max_parts: int = 1_024  # parts of one event (4 MiB each from the origin: a 1 GB Postgres value fits)
    hot_events: int = 50_000  # tier 1 keeps at most this many rows after compaction
    segment_events: int = 2_000
    retention_seconds: float = 7 * 24 * 3600


class StoredEvent(NamedTuple):
    """An event in the log. A named tuple, immutable as a frozen dataclass but ~4x cheaper to build:
    one is built per event appended or read, by the thousand per batch."""

    position: Position
    model: str
    action: str
    body: str  # the event's JSON


@dataclass(frozen=True)
class Appended:
    stored: list[StoredEvent]
    duplicates: int
    head: Position
    # The head before: `stored` are the log's events right after it. `whole`: every stored event
    # carries its full text (none arrived in parts), so they may be served without reading them back.
    after: Position = ZERO
    whole: bool = False


def _exec_many(sql: SqlStorage, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """One statement for each of `rows`: in one call where the storage takes a batch (the local
    runtime's sqlite3 `executemany`, ~40 % less per row), else one `exec` per row (Workers)."""
    many = getattr(sql, "exec_many", None)
    if many is not None:
        many(statement, rows)
        return
    for row in rows:
        sql.exec(statement, *row)


def _utf8_over(text: str, limit: int) -> bool:
    """Whether `text` takes more than `limit` bytes of UTF-8 (encoding it only when it may)."""
    return len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit)


def _position(event: Any) -> Position:
    if not isinstance(event, dict) or not isinstance(event.get("offset"), str):
        raise InvalidBatch("every event needs an offset")
    return Position.parse(event["offset"])


class EventLog:
    def __init__(
        self, sql: SqlStorage, blobs: BlobStore, clock: Callable[[], float], prefix: str, limits: LogLimits
    ) -> None:
        self._sql = sql
        self._blobs = blobs
        self._clock = clock
        self._prefix = prefix
        self.limits = limits
        for statement in SCHEMA:
            sql.exec(statement)

    # --- head -------------------------------------------------------------------------------------

    def head(self) -> Position:
        rows = self._sql.exec("SELECT value FROM log_meta WHERE key = 'head'")
        return Position.parse(str(rows[0][0])) if rows else ZERO

    def oldest(self) -> Position | None:
        segment = self._sql.exec(
            "SELECT first_lsn, first_seq FROM segments ORDER BY first_lsn, first_seq LIMIT 1"
        )
        if segment:
            return Position(int(segment[0][0]), int(segment[0][1]))
        row = self._sql.exec("SELECT lsn, seq FROM events ORDER BY lsn, seq LIMIT 1")
        return Position(int(row[0][0]), int(row[0][1])) if row else None

    # --- append -----------------------------------------------------------------------------------

    async def append(self, events: list[Any], texts: list[str] | None = None) -> Appended:
        """Store the events after the head, in order; returns what was new. `texts`: each event's
        compact JSON as received (encoded here when not given)."""
        positions = [_position(e) for e in events]
        # Compared as tuples: the batch's events by the thousand, and positions rise within it, so
        # what is at or before the head (a redelivery) is a prefix, found by bisection.
        keys = [(p.lsn, p.seq) for p in positions]
        if any(b <= a for a, b in itertools.pairwise(keys)):
            raise InvalidBatch("event positions must rise within a batch")
        if texts is None:
            texts = [json.dumps(e, separators=(",", ":")) for e in events]
        head = self.head()
        first = bisect.bisect_right(keys, (head.lsn, head.seq))
        limit = self.limits.inline_limit
        referenced: dict[int, tuple[str | None, int]] = {}  # event index → its R2 reference and its size
        for i in range(first, len(events)):
            event, body = events[i], texts[i]
            if PARTS_KEY in event:
                referenced[i] = self._parted(event, positions[i])
            elif len(body) * 4 > limit and _utf8_over(body, limit):
                # Written before the row that points at it; the key is the position, so a redelivered
                # event overwrites the same object.
                key = f"{self._prefix}/oversize/{positions[i].offset}.json"
                await self._blobs.put(key, body)
                referenced[i] = (key, len(body))
        # Synchronous from here: the head may have moved while R2 was written (a concurrent push).
        head = after = self.head()
        whole = not any(PARTS_KEY in event for event in events)  # a parted event's body is its stub
        stored: list[StoredEvent] = []
        rows: list[tuple[Any, ...]] = []
        now = self._clock()
        for i in range(max(first, bisect.bisect_right(keys, (head.lsn, head.seq))), len(events)):
            event, p, body = events[i], positions[i], texts[i]
            model, action = str(event.get("modelName", "")), str(event.get("action", ""))
            blob, size = referenced.get(i, (None, len(body)))
            rows.append((p.lsn, p.seq, model, action, None if blob else body, blob, size, now))
            stored.append(StoredEvent(p, model, action, body))
        if stored:
            head = stored[-1].position
        _exec_many(
            self._sql,
            "INSERT INTO events (lsn, seq, model, action, body, blob, size, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if stored:
            self._sql.exec("INSERT OR REPLACE INTO log_meta (key, value) VALUES ('head', ?)", head.offset)
            self._sql.exec("DELETE FROM parts WHERE (lsn, seq) <= (?, ?)", head.lsn, head.seq)
        return Appended(stored, len(events) - len(stored), head, after, whole)

    async def store_part(self, position: Position, index: int, count: int, text: str) -> bool:
        """Keep part `index` of `count` of the event at `position` until its stub arrives; False if the
        event is stored already (a redelivery), so the part is not needed."""
        if not 1 < count <= self.limits.max_parts or not 0 <= index < count:
            raise InvalidBatch(f"part {index} of {count}: an event has 2 to {self.limits.max_parts} parts")
        if position <= self.head():
            return False
        await self._blobs.put(self._part_key(position, index), text)
        self._sql.exec(
            "INSERT OR REPLACE INTO parts (lsn, seq, idx, size) VALUES (?, ?, ?, ?)",
            position.lsn,
            position.seq,
            index,
            len(text),
        )
        return True

    def _part_key(self, position: Position, index: int) -> str:
        return f"{self._prefix}/oversize/{position.offset}.part-{index}"

    def _parted(self, stub: dict[str, Any], position: Position) -> tuple[str, int]:
        """The tier-1 reference of a parted event, once every part is here."""
        count = stub[PARTS_KEY]
        if not isinstance(count, int) or not 1 < count <= self.limits.max_parts:
            raise InvalidBatch(
                f"event {position.offset}: `{PARTS_KEY}` is a count of 2 to {self.limits.max_parts}"
            )
        have = self._sql.exec(
            "SELECT count(*), coalesce(sum(size), 0) FROM parts WHERE lsn = ? AND seq = ? AND idx < ?",
            position.lsn,
            position.seq,
            count,
        )
        if int(have[0][0]) != count:
            # The origin sends every part before the batch; a gap means a lost part, so the whole
            # push fails and is retried (parts are idempotent by key).
            raise InvalidBatch(f"event {position.offset} has {have[0][0]} of its {count} parts")
        return f"{self._prefix}/oversize/{position.offset}.parts-{count}", int(have[0][1])

    # --- read -------------------------------------------------------------------------------------

    async def read_after(self, after: Position, limit: int) -> list[StoredEvent]:
        """Up to `limit` events after `after`, oldest first, from whichever tier holds them."""
        segment = self._sql.exec(
            "SELECT blob FROM segments WHERE (last_lsn, last_seq) > (?, ?)"
            " ORDER BY first_lsn, first_seq LIMIT 1",
            after.lsn,
            after.seq,
        )
        if segment:
            text = await self._blobs.get(str(segment[0][0]))
            if text is not None:
                found = []
                for line in text.splitlines():
                    lsn, seq, model, action, body, blob = json.loads(line)
                    position = Position(lsn, seq)
                    if position > after:
                        found.append(await self._event(position, model, action, body, blob))
                        if len(found) >= limit:
                            break
                if found:
                    return found
        rows = self._sql.exec(
            "SELECT lsn, seq, model, action, body, blob FROM events WHERE (lsn, seq) > (?, ?)"
            " ORDER BY lsn, seq LIMIT ?",
            after.lsn,
            after.seq,
            limit,
        )
        return [
            StoredEvent(Position(int(r[0]), int(r[1])), str(r[2]), str(r[3]), str(r[4]))
            if r[4] is not None  # the common case, inline in tier 1: no coroutine per row
            else await self._event(Position(int(r[0]), int(r[1])), str(r[2]), str(r[3]), r[4], r[5])
            for r in rows
        ]

    async def _event(self, position: Position, model: str, action: str, body: Any, blob: Any) -> StoredEvent:
        if body is None and blob is not None:
            texts = [await self._blobs.get(key) for key in blob_keys(str(blob))]
            if any(text is None for text in texts):
                raise LookupError(f"event {position.offset} is missing from tier 2 ({blob})")
            body = "".join(str(text) for text in texts)
        return StoredEvent(position, model, action, str(body))

    # --- figures (the console's) -------------------------------------------------------------------

    def count_after(self, after: Position) -> int:
        """Events stored after `after`. A segment in R2 that holds `after` counts whole (reading it
        would cost an R2 read per look), so this may be over by at most one segment's events."""
        hot = self._sql.exec("SELECT count(*) FROM events WHERE (lsn, seq) > (?, ?)", after.lsn, after.seq)
        cold = self._sql.exec(
            "SELECT coalesce(sum(count), 0) FROM segments WHERE (last_lsn, last_seq) > (?, ?)",
            after.lsn,
            after.seq,
        )
        return int(hot[0][0]) + int(cold[0][0])

    def stored_at_after(self, after: Position) -> float | None:
        """When the first event after `after` was stored (None: there is none). For an event moved to
        R2 this is when the newest event of its segment was stored, so the age it gives is a floor."""
        segment = self._sql.exec(
            "SELECT stored_at FROM segments WHERE (last_lsn, last_seq) > (?, ?)"
            " ORDER BY first_lsn, first_seq LIMIT 1",
            after.lsn,
            after.seq,
        )
        if segment:
            return float(segment[0][0])
        row = self._sql.exec(
            "SELECT stored_at FROM events WHERE (lsn, seq) > (?, ?) ORDER BY lsn, seq LIMIT 1",
            after.lsn,
            after.seq,
        )
        return float(row[0][0]) if row else None

    # --- tiering and retention --------------------------------------------------------------------

    def tier1_count(self) -> int:
        return int(self._sql.exec("SELECT count(*) FROM events")[0][0])

    async def compact(self, max_segments: int = 20) -> int:
        """Move the oldest tier-1 rows beyond `hot_events` into R2 segments; returns segments written."""
        written = 0
        while written < max_segments and self.tier1_count() > self.limits.hot_events:
            excess = self.tier1_count() - self.limits.hot_events
            rows = self._sql.exec(
                "SELECT lsn, seq, model, action, body, blob, stored_at FROM events ORDER BY lsn, seq LIMIT ?",
                min(excess, self.limits.segment_events),
            )
            first, last = Position(rows[0][0], rows[0][1]), Position(rows[-1][0], rows[-1][1])
            key = f"{self._prefix}/segments/{first.offset}_{last.offset}.jsonl"
            text = "\n".join(json.dumps(list(r[:6]), separators=(",", ":")) for r in rows)
            await self._blobs.put(key, text)
            self._sql.exec(
                "INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                first.lsn,
                first.seq,
                last.lsn,
                last.seq,
                key,
                len(rows),
                max(float(r[6]) for r in rows),
                sum(1 for r in rows if r[5] is not None),  # oversize events it still points at
            )
            self._sql.exec(
                "DELETE FROM events WHERE (lsn, seq) >= (?, ?) AND (lsn, seq) <= (?, ?)",
                first.lsn,
                first.seq,
                last.lsn,
                last.seq,
            )
            written += 1
        return written

    async def expire(self, floor: Position) -> int:
        """Delete old events no stream still needs (at or before `floor`); returns how many."""
        cutoff = self._clock() - self.limits.retention_seconds
        doomed_segments = self._sql.exec(
            "SELECT first_lsn, first_seq, blob, blobs, count FROM segments"
            " WHERE stored_at < ? AND (last_lsn, last_seq) <= (?, ?)",
            cutoff,
            floor.lsn,
            floor.seq,
        )
        blobs = [str(r[2]) for r in doomed_segments]
        for lsn, seq, blob, referenced, _count in doomed_segments:
            if referenced:
                text = await self._blobs.get(str(blob)) or ""
                blobs += [json.loads(line)[5] for line in text.splitlines() if json.loads(line)[5]]
            self._sql.exec("DELETE FROM segments WHERE first_lsn = ? AND first_seq = ?", lsn, seq)
        where = "stored_at < ? AND (lsn, seq) <= (?, ?)"
        blobs += [
            str(r[0])
            for r in self._sql.exec(
                f"SELECT blob FROM events WHERE {where} AND blob IS NOT NULL", cutoff, floor.lsn, floor.seq
            )
        ]
        count = int(
            self._sql.exec(f"SELECT count(*) FROM events WHERE {where}", cutoff, floor.lsn, floor.seq)[0][0]
        )
        self._sql.exec(f"DELETE FROM events WHERE {where}", cutoff, floor.lsn, floor.seq)
        if blobs:
            # After the rows are gone: a crash in between leaves an orphan object, never a dangling row.
            await self._blobs.delete([key for blob in blobs for key in blob_keys(blob)])
        return count + sum(int(r[4]) for r in doomed_segments)
