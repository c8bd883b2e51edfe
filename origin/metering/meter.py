"""The origin's half of metering: every observation goes into a local journal before its response
leaves (one write, no round trip), and sealed journal segments are counted in the control plane in
the background, each exactly once (ledger.py).

A process killed with -9 loses nothing it answered: its journal is on disk, and the next process
with the same `BREAKWATER_METER_DIR` seals and delivers what it finds there. A segment counted just
before a crash is delivered again under the same id and counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from bwservice.journal import Journal
from bwservice.tasks import cancel_and_wait

from ..observe import Observation
from .ledger import Ledger

log = logging.getLogger("breakwater.metering")

_VERSION = 1


def encode(seen: Observation) -> bytes:
    return json.dumps(
        [
            _VERSION,
            seen.database_id,
            seen.key_id,
            seen.protocol,
            seen.model,
            seen.action,
            seen.shape,
            None if seen.duration_ms is None else round(seen.duration_ms, 3),
            seen.rows,
            seen.response_bytes,
            seen.error,
            seen.transaction,
            round(seen.arrived_at, 6),
            1 if seen.background else 0,
        ],
        separators=(",", ":"),
    ).encode()


def decode(line: bytes) -> Observation:
    values = json.loads(line)
    if not isinstance(values, list) or values[0] != _VERSION or len(values) != 14:
        raise ValueError("not an observation of this version")
    (database_id, key_id, protocol, model, action, shape, duration, rows, size, error, tx, arrived) = values[
        1:13
    ]
    return Observation(
        database_id=database_id,
        key_id=key_id,
        protocol=protocol,
        model=model,
        action=action,
        shape=shape,
        duration_ms=duration,
        rows=rows,
        response_bytes=size,
        error=error,
        transaction=tx,
        arrived_at=arrived,
        background=bool(values[13]),
    )


class Meter:
    def __init__(
        self,
        journal: Journal,
        ledger: Ledger,
        source: str,
        flush_seconds: float,
        on_counted: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self._ledger = ledger
        self._source = source
        self._flush_seconds = flush_seconds
        self._on_counted = on_counted
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def observe(self, seen: Observation) -> None:
        """An observation subscriber: journal it (synchronously, before the response goes out)."""
        self.journal.append(encode(seen))

    async def flush(self) -> int:
        """Seal the open segment and count every sealed one; how many were counted now."""
        async with self._lock:
            self.journal.seal()
            counted = 0
            for segment in self.journal.sealed():
                observations = []
                for line in self.journal.read(segment):
                    try:
                        observations.append(decode(line))
                    except (ValueError, TypeError, IndexError):
                        log.error(
                            "a journal record could not be read", extra={"fields": {"segment": segment}}
                        )
                if await self._ledger.observed(segment, self._source, observations):
                    counted += 1
                self.journal.drop(segment)
            if counted:
                self._on_counted()
            return counted

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # the control plane is down: the journal keeps it all
                log.warning("usage could not be counted yet", extra={"fields": {"error": str(exc)}})

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout=5)
        self.journal.close()
