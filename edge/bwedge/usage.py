"""Cache hits the edge served, counted per isolate and reported to the origin in the background
(the origin never sees them), without a round trip per request.

Each answer the cache gave is one line in the isolate's journal (`HitJournal`), written as it is
served. A flush seals the open segment and sends every sealed one to the origin as a batch whose id
is the segment's (`bwcontract.usage.HitBatch`); a segment is dropped only once the origin answered
that it counted it, and the origin counts an id once. So a flush that fails, or is cut short by a
crash, is sent again later under the same id and counted once: at-least-once delivery, exactly-once
counting.

A hit costs one dictionary update: hits are summed in memory per (database, day, kind, shape) and
go to the journal as one line per sum (`write()`), at each flush and, where the journal is on disk,
`write_seconds` after the first hit since the last write. A line is thus already what the batch
carries; formatting and later parsing a line per hit cost more than the rest of the hit's metering.

What survives a crash is the journal's to say: the local runtime keeps it in files, written every
50 ms (a process killed with -9 loses at most its last 50 ms of hits); in the Workers runtime an
isolate has no disk, so `MemoryJournal` keeps it in memory, and the hits of an isolate evicted or
crashed before its next flush are lost (never counted twice). Flushes start from requests
(`due()`, then `ctx.wait_until(flush())`) and, in the local runtime, also on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bwcontract.usage import KINDS, HitBatch, HitCount

log = logging.getLogger("breakwater.edge")

Send = Callable[[HitBatch], Awaitable[None]]  # delivers a batch; returns once the origin counted it


class HitJournal(Protocol):
    """Append-only records in segments (bwservice.journal.Journal has this shape)."""

    def append_many(self, records: list[bytes]) -> None: ...

    def seal(self) -> str | None: ...

    def sealed(self) -> list[str]: ...

    def read(self, segment: str) -> list[bytes]: ...

    def drop(self, segment: str) -> None: ...


class MemoryJournal:
    """The Worker's journal: an isolate has no disk, so its hits live in memory until flushed."""

    def __init__(self) -> None:
        self._open: list[bytes] = []
        self._sealed: dict[str, list[bytes]] = {}
        self._seq = 0

    def append_many(self, records: list[bytes]) -> None:
        self._open.extend(records)

    def seal(self) -> str | None:
        if not self._open:
            return None
        self._seq += 1
        segment = f"{self._seq:012d}-{secrets.token_hex(10)}"
        self._sealed[segment], self._open = self._open, []
        return segment

    def sealed(self) -> list[str]:
        return sorted(self._sealed)

    def read(self, segment: str) -> list[bytes]:
        return list(self._sealed.get(segment, []))

    def drop(self, segment: str) -> None:
        self._sealed.pop(segment, None)


class HitMeter:
    def __init__(
        self,
        journal: HitJournal,
        send: Send,
        clock: Callable[[], float] = time.time,
        flush_seconds: float = 2.0,
        batch_hits: int = 1000,
        retry_seconds: float = 5.0,
        write_seconds: float | None = None,
    ) -> None:
        self.journal = journal
        self.send = send
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._batch_hits = batch_hits
        self._retry_seconds = retry_seconds
        self._pending = 0  # hits in the open segment
        self._first = 0.0  # when the first of them was recorded
        self._lock = asyncio.Lock()
        self._retry_at = 0.0  # a failed delivery waits until then
        self._waiting = bool(journal.sealed())  # segments a crashed process left to deliver
        self._claimed = False  # a caller was told a flush is due and has not run it yet
        self._day = ""  # the UTC day of the hits being summed, which ends at `_day_ends`
        self._day_ends = float("-inf")
        # Hits of `_day` not in the journal yet: (database, kind, shape) -> [answers, bytes].
        self._sums: dict[tuple[str, str, str], list[int]] = {}
        self._write_seconds = write_seconds  # None: written at each flush only (no disk to crash with)
        self._write_timer: asyncio.TimerHandle | None = None

    def record(
        self, database_id: str, kind: str, size: int, shape: str | None, now: float | None = None
    ) -> None:
        """One answer given without the origin (at `now`, by the meter's clock), summed in memory
        until the next `write()`."""
        if now is None:
            now = self._clock()
        if now >= self._day_ends:
            self._start_day(now)
        key = (database_id, kind, shape or "")
        found = self._sums.get(key)
        if found is None:
            self._sums[key] = [1, size]
            if self._write_seconds is not None and self._write_timer is None:
                self._write_timer = asyncio.get_running_loop().call_later(self._write_seconds, self.write)
        else:
            found[0] += 1
            found[1] += size
        if self._pending == 0:
            self._first = now
        self._pending += 1

    def _start_day(self, now: float) -> None:
        self.write()  # the day's sums so far, under their day
        midnight = now - now % 86400
        self._day, self._day_ends = time.strftime("%Y-%m-%d", time.gmtime(midnight)), midnight + 86400

    def write(self) -> None:
        """Put the hits summed since the last write into the journal, one line per sum."""
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._sums:
            sums, self._sums = self._sums, {}
            day = self._day
            lines = [
                "\t".join((database_id, day, kind, shape, str(n), str(size))).encode()
                for (database_id, kind, shape), (n, size) in sums.items()
            ]
            self.journal.append_many(lines)

    def due(self) -> bool:
        """Whether a flush should start now: hits waiting long enough or many enough, or a delivery
        to try again. True hands the flush to the caller, who must call `flush()`; until that flush
        ends, `due()` says False (a busy isolate starts one flush, not one per request)."""
        if self._lock.locked() or self._claimed:
            return False
        now = self._clock()
        if self._waiting:
            found = now >= self._retry_at
        else:
            found = self._pending > 0 and (
                self._pending >= self._batch_hits or now - self._first >= self._flush_seconds
            )
        self._claimed = found
        return found

    @property
    def pending(self) -> int:
        return self._pending

    async def flush(self) -> int:
        """Seal what was recorded and deliver every sealed segment; how many were delivered. A
        failure leaves them for the next flush (after `retry_seconds`). One flush at a time: a call
        during another waits for it, then flushes what came since."""
        async with self._lock:
            self._claimed = False
            delivered = 0
            try:
                self.write()
                self.journal.seal()
                self._pending = 0
                for segment in self.journal.sealed():
                    self._waiting = True
                    counts = _sums(self.journal.read(segment))
                    if counts:
                        await self.send(HitBatch(segment, counts))
                    self.journal.drop(segment)
                    delivered += 1
                self._waiting = False
            except Exception as exc:
                self._retry_at = self._clock() + self._retry_seconds
                log.warning("cache hits could not be reported yet", extra={"fields": {"error": str(exc)}})
            return delivered


def _sums(lines: list[bytes]) -> tuple[HitCount, ...]:
    """The journal's lines summed per (database, day, kind, shape). A line is a sum of answers
    (database, day, kind, shape, answers, bytes), or, written before hits were summed in memory and
    left by a process that crashed then, one answer (database, day, kind, shape, bytes)."""
    sums: dict[tuple[str, str, str, str], list[int]] = {}
    for line in lines:
        try:
            fields = line.decode().split("\t")
            if len(fields) == 5:
                fields.insert(4, "1")
            database_id, day, kind, shape, answers, size = fields
            if kind in KINDS:
                found = sums.setdefault((database_id, day, kind, shape), [0, 0])
                found[0] += int(answers)
                found[1] += int(size)
        except ValueError:
            log.error("a journal line of cache hits could not be read")
    return tuple(HitCount(*key, n, size) for key, (n, size) in sums.items())
