"""How an origin hears that a database moves: NOTIFY on `breakwater_moves` (control/moves.py sends
it when a move starts, ends or is undone), and a look at the control plane every few seconds in
case a notification was missed (its session can drop). Each time, the pool reads the database's
record again (`Tenants.refresh`): BW3011 while it moves, pools at the new address after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from .moves import CHANNEL

log = logging.getLogger("breakwater.moves")


class MoveWatch:
    def __init__(
        self,
        control_dsn: str,
        control: asyncpg.Pool,
        refresh: Callable[[str], Awaitable[bool]],
        moving: Callable[[], set[str]],
        interval: float = 2.0,
    ) -> None:
        self._dsn = control_dsn
        self._control = control
        self._refresh = refresh
        self._moving = moving
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        for task in [self._task, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        task = asyncio.ensure_future(self._refresh(str(payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self) -> None:
        while True:
            listener: asyncpg.Connection | None = None
            try:
                listener = await asyncpg.connect(self._dsn)
                await listener.add_listener(CHANNEL, self._on_notify)
                while not listener.is_closed():
                    await self.resync()
                    await asyncio.sleep(self._interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watch outlives any one failure
                log.warning("watching moves failed; again shortly", extra={"fields": {"error": repr(exc)}})
            finally:
                if listener is not None:
                    listener.terminate()
            await asyncio.sleep(self._interval)

    async def resync(self) -> None:
        """Databases moving now that this origin does not know of, and those it still thinks move."""
        now = {
            str(r["id"])
            for r in await self._control.fetch("SELECT id FROM databases WHERE moving_since IS NOT NULL")
        }
        for database_id in now ^ self._moving():
            await self._refresh(database_id)
