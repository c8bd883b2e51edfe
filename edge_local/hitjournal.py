"""The local edge's journal of cache hits: on disk (bwservice.journal), written in groups so that a hit
costs no system call on its request's path.

Records wait in memory until `max_records` of them are waiting or `delay` seconds passed since the first,
then go to the journal in one write; a flush (`seal`) writes what waits first. So a process killed
with -9 loses at most the hits of its last `delay` seconds (never counts one twice: what was written is
delivered under its segment's id), where the Workers runtime loses an evicted isolate's unsent hits.
"""

from __future__ import annotations

import asyncio

from bwservice.journal import Journal


class GroupedJournal:
    def __init__(self, journal: Journal, delay: float = 0.05, max_records: int = 256) -> None:
        self.journal = journal
        self._delay = delay
        self._max_records = max_records
        self._waiting: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    def append(self, record: bytes) -> None:
        self._waiting.append(record)
        if len(self._waiting) >= self._max_records:
            self.write()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self.write)

    def write(self) -> None:
        """Write what waits, now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            self.journal.append_many(waiting)

    def seal(self) -> str | None:
        self.write()
        return self.journal.seal()

    def sealed(self) -> list[str]:
        return self.journal.sealed()

    def read(self, segment: str) -> list[bytes]:
        return self.journal.read(segment)

    def drop(self, segment: str) -> None:
        self.journal.drop(segment)

    def close(self) -> None:
        self.write()
        self.journal.close()
