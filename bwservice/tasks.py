"""Background tasks of long-running services."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any] | None) -> None:
    """Cancel a service's background task and wait until it has stopped (nothing for None), so a
    service's `stop` returns only when its loop can no longer touch what is being closed next."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
