"""The idle policy: pause after a while without traffic, hibernate (stop) after a longer while.

`decide` is the rule; `IdlePolicy` applies it to every instance, every `settings.idle_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bwservice.tasks import cancel_and_wait

from . import freezer
from .inventory import Inventory
from .lifecycle import Lifecycle
from .postgres import PostgresError

log = logging.getLogger("breakwater.hosts")


def decide(state: str, idle_for: float, pause_after: float, hibernate_after: float) -> str | None:
    """What to do with an instance in `state` that has seen no traffic for `idle_for` seconds.

    Returns "pause", "hibernate" or None. A limit of 0 turns that step off; a running instance idle
    past both limits goes straight to hibernation.
    """
    if state not in ("running", "paused"):
        return None
    if hibernate_after > 0 and idle_for >= hibernate_after:
        return "hibernate"
    if state == "running" and pause_after > 0 and idle_for >= pause_after:
        return "pause"
    return None


class IdlePolicy:
    def __init__(self, inventory: Inventory, lifecycle: Lifecycle) -> None:
        self.inventory = inventory
        self.lifecycle = lifecycle
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Apply the policy in the background (unless both limits are 0)."""
        settings = self.inventory.settings
        if self._task is None and (settings.pause_after > 0 or settings.hibernate_after > 0):
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def apply(self) -> None:
        """One pass: pause or hibernate what has been idle long enough."""
        now = time.monotonic()
        for managed in list(self.inventory.instances.values()):
            self.lifecycle.notice_exit(managed)
            settings = self.inventory.settings
            action = decide(
                managed.state, now - managed.last_active, settings.pause_after, settings.hibernate_after
            )
            try:
                if action == "pause":
                    await self.lifecycle.pause(managed, if_idle=True)
                elif action == "hibernate":
                    await self.lifecycle.hibernate(managed, if_idle=True)
            except (PostgresError, freezer.FreezerError, OSError) as exc:
                managed.touch()
                log.warning(
                    "idle policy failed", extra={"fields": {"instance": managed.name, "error": str(exc)}}
                )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.inventory.settings.idle_interval)
            await self.apply()
