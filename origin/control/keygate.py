"""The origin's own check that a forwarded key is still live.

The edge already refuses revoked keys; this is the second line for requests that reach the origin
(an edge that has not heard of a revocation yet, or a push that failed). Answers are cached for
`ttl` seconds and dropped at once when any origin revokes (LISTEN breakwater_revocations); whoever
holds something open for a key hears of it through `on_revoked`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from .store import ControlStore

log = logging.getLogger("breakwater.control")
# Told the id of a revoked key or of a deleted database (the NOTIFY payload; ids never collide).
RevokedCallback = Callable[[str], Awaitable[None]]


class KeyGate:
    def __init__(self, store: ControlStore, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._answers: dict[tuple[str, str], tuple[float, bool]] = {}
        self._asking: dict[tuple[str, str], asyncio.Future[bool]] = {}
        self._generation = 0  # bumped by every revocation: an answer read before one is not kept
        self._listener: asyncpg.Connection | None = None
        self._subscribers: list[RevokedCallback] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, dsn: str) -> None:
        self._listener = await asyncpg.connect(dsn)
        await self._listener.add_listener("breakwater_revocations", self._on_revocation)

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.close()

    def on_revoked(self, callback: RevokedCallback) -> None:
        self._subscribers.append(callback)

    def _on_revocation(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.forget()
        for callback in self._subscribers:
            task = asyncio.ensure_future(callback(str(payload)))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a revocation could not be applied", exc_info=task.exception())

    def forget(self) -> None:
        self._answers.clear()
        self._asking.clear()
        self._generation += 1

    async def is_active(self, key_id: str, database_id: str) -> bool:
        now = time.monotonic()
        cached = self._answers.get((key_id, database_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        # One control-plane read per key at a time: when a flooding tenant's answer expires, its
        # thousands of requests share one read instead of queueing other tenants' behind theirs.
        key = (key_id, database_id)
        asking = self._asking.get(key)
        if asking is None:
            asking = self._asking[key] = asyncio.ensure_future(self._ask(key_id, database_id))

            def done(future: asyncio.Future[bool]) -> None:
                if self._asking.get(key) is future:
                    del self._asking[key]

            asking.add_done_callback(done)
        return await asyncio.shield(asking)

    async def _ask(self, key_id: str, database_id: str) -> bool:
        asked, generation = time.monotonic(), self._generation
        active = await self._store.key_is_active(key_id, database_id)
        if generation == self._generation:
            if len(self._answers) > 50_000:
                self._answers.clear()
            self._answers[(key_id, database_id)] = (asked + self._ttl, active)
        return active
