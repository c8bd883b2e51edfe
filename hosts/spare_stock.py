"""Keeping spares in stock (what a spare is: spares.py). After start-up and after every provisioning,
spares are made again in the background until `settings.spares` of each kind wait; provisioning
takes one when there is one, and makes its database on the spot when there is none."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg

from bwservice.tasks import cancel_and_wait

from . import spares
from .inventory import SHARED_INSTANCE, Inventory
from .lifecycle import Lifecycle
from .postgres import PostgresError
from .template import Template

log = logging.getLogger("breakwater.hosts")

SPARES_AFTER = 0.5  # seconds after a provisioning before spares are made again


class SpareStock:
    def __init__(self, inventory: Inventory, lifecycle: Lifecycle) -> None:
        self.inventory = inventory
        self.lifecycle = lifecycle
        self.dedicated: spares.DedicatedSpares | None = None  # known once the template is
        self.shared: list[str] | None = None  # None: not looked at yet
        self._task: asyncio.Task[None] | None = None
        self._shared_wanted = False

    def prepare(self, made_from: Template) -> None:
        """Dedicated spares are copies of `made_from`: drop half-made ones and those of an older template."""
        self.dedicated = spares.DedicatedSpares(self.inventory.root, made_from.instance.root.name)
        self.dedicated.clean()

    def take_dedicated(self, data_dir: Path) -> bool:
        """Move a spare copy to `data_dir`; False when there is none."""
        assert self.dedicated is not None, "start-up prepares the dedicated spares"
        return self.dedicated.take(data_dir)

    def take_shared(self) -> str | None:
        """A spare database's name, out of the stock (call with the shared cluster awake)."""
        return self.shared.pop(0) if self.shared else None

    def put_back_shared(self, spare: str) -> None:
        """A spare taken for a provisioning that failed: the rename rolled back with the rest."""
        self.shared = [spare, *(self.shared or [])]

    def counts(self) -> dict[str, int]:
        return {
            "dedicated": len(self.dedicated.ready()) if self.dedicated else 0,
            "shared": len(self.shared or []),
        }

    def refill(self, shared: bool) -> None:
        """Make spares in the background (shared ones only when asked: it needs the cluster awake)."""
        if self.inventory.settings.spares <= 0:
            return
        self._shared_wanted |= shared
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._refill())

    async def settle(self) -> None:
        """Wait for the spares under way to be made: for tests and benchmarks."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _refill(self) -> None:
        try:
            template = self.inventory.template
            assert template is not None and self.dedicated is not None
            # A new database is usually connected to at once: let that go first.
            await asyncio.sleep(SPARES_AFTER)
            while True:
                if len(self.dedicated.ready()) < self.inventory.settings.spares:
                    await self.dedicated.make(template, self.inventory.copy_mode)
                elif self._shared_wanted:
                    self._shared_wanted = False
                    await self._refill_shared()
                else:
                    return
        except (OSError, PostgresError, asyncpg.PostgresError) as exc:
            log.warning("could not make spares", extra={"fields": {"error": str(exc)}})

    async def _refill_shared(self) -> None:
        shared = self.inventory.shared
        async with self.lifecycle.awake(self.inventory.instances[SHARED_INSTANCE]):
            conn = await shared.admin()
            try:
                if self.shared is None:
                    self.shared = await spares.spare_databases(conn)
                while len(self.shared) < self.inventory.settings.spares:
                    self.shared.append(await shared.make_spare(conn))
            finally:
                await conn.close()
