"""The origin's own check that a forwarded key is still live.

The edge already refuses revoked keys; this is the second line for requests that reach the origin
(an edge that has not heard of a revocation yet, or a push that failed). Answers are cached for
`ttl` seconds and dropped at once when any origin revokes (LISTEN breakwater_revocations).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg

from .store import ControlStore

log = logging.getLogger("breakwater.control")


class KeyGate:
    def __init__(self, store: ControlStore, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._answers: dict[tuple[str, str], tuple[float, bool]] = {}
        self._listener: asyncpg.Connection | None = None

    async def start(self, dsn: str) -> None:
        self._listener = await asyncpg.connect(dsn)
        await self._listener.add_listener("breakwater_revocations", self._on_revocation)

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.close()

    def _on_revocation(self, *_args: Any) -> None:
        self._answers.clear()

    def forget(self) -> None:
        self._answers.clear()

    async def is_active(self, key_id: str, database_id: str) -> bool:
        now = time.monotonic()
        cached = self._answers.get((key_id, database_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        active = await self._store.key_is_active(key_id, database_id)
        if len(self._answers) > 50_000:
            self._answers.clear()
        self._answers[(key_id, database_id)] = (now + self._ttl, active)
        return active
