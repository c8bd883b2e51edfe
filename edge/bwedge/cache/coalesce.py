"""Single flight: concurrent misses of one key share one origin request instead of stampeding it.

The shared work runs as its own task, so a caller that goes away (client disconnect) does not cancel
it for the others. Per isolate: other isolates and data centers coalesce their own misses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[T]] = {}

    def busy(self, key: str) -> bool:
        return key in self._running

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The result of `work()` for `key`, started now or joined; the flag says who started it."""
        task = self._running.get(key)
        leader = task is None
        if task is None:
            task = asyncio.ensure_future(work())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finish(key, done))
        return await asyncio.shield(task), leader

    def _finish(self, key: str, task: asyncio.Future[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        # Mark the outcome as seen: a failure is re-raised to every waiter, not logged as lost.
        if not task.cancelled():
            task.exception()
