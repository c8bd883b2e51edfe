"""How much each database stores, sampled on a schedule without waking anything.

- dedicated: its instance's data directory on disk (read from the file system, whatever the
  instance's state: a paused or hibernated instance is not touched);
- shared: `pg_database_size` while the shared cluster is running, asked under the cluster's lock so
  it cannot be paused meanwhile (a sample never counts as activity); while the cluster is paused or
  hibernated, the database's last sample again, taken now.

Every sample carries the time it was taken (the control plane counts each once). The last samples
are kept in `storage.json` beside the registry, so a restarted agent still knows a sleeping shared
database's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from bwservice import pinned
from bwservice.tasks import cancel_and_wait

from . import resources
from .inventory import SHARED_INSTANCE, Inventory

log = logging.getLogger("breakwater.hosts")

DISK = "disk"  # a dedicated instance's data directory
DATABASE_SIZE = "database_size"  # pg_database_size in the running shared cluster
LAST_SAMPLE = "last_sample"  # the cluster sleeps: the size it had when last asked


@dataclass(frozen=True)
class Sample:
    database_id: str
    bytes: int
    sampled_at: float  # unix seconds
    source: str


class StorageSampler:
    def __init__(self, inventory: Inventory, interval: float) -> None:
        self.inventory = inventory
        self.interval = interval
        self._path = inventory.root / "storage.json"
        self.samples: dict[str, Sample] = {}
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            for row in json.loads(self._path.read_text()):
                self.samples[row["database_id"]] = Sample(**row)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def sample(self) -> list[Sample]:
        """Sample every database of the host now."""
        async with self._lock:
            now = time.time()
            shared = await self._shared_sizes()
            taken: dict[str, Sample] = {}
            for record in list(self.inventory.databases.values()):
                managed = self.inventory.instances.get(record.instance)
                if managed is None:
                    continue
                if record.placement == "dedicated":
                    size = await asyncio.to_thread(resources.disk_bytes, managed.instance.data_dir)
                    taken[record.id] = Sample(record.id, size, now, DISK)
                elif shared is not None and record.database in shared:
                    taken[record.id] = Sample(record.id, shared[record.database], now, DATABASE_SIZE)
                elif record.id in self.samples:
                    taken[record.id] = Sample(record.id, self.samples[record.id].bytes, now, LAST_SAMPLE)
            self.samples = taken
            self._save()
            return list(taken.values())

    async def _shared_sizes(self) -> dict[str, int] | None:
        """Each database's size in the shared cluster, or None when it is not running (not woken)."""
        managed = self.inventory.instances.get(SHARED_INSTANCE)
        if managed is None or managed.state != "running":
            return None
        async with managed.lock:  # no pause or hibernation until the answer is in
            if managed.state != "running" or managed.pid is None:
                return None
            try:
                conn = await pinned.connect(managed.instance.dsn(), timeout=10)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("could not sample the shared cluster", extra={"fields": {"error": str(exc)}})
                return None
            try:
                rows = await conn.fetch(
                    "SELECT datname, pg_catalog.pg_database_size(oid) AS size FROM pg_catalog.pg_database "
                    "WHERE datname OPERATOR(pg_catalog.~~) 't\\_%'"
                )
            finally:
                await conn.close()
        return {str(r["datname"]): int(r["size"]) for r in rows}

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(s) for s in self.samples.values()]))
        tmp.replace(self._path)

    def report(self) -> dict[str, Any]:
        return {
            "host": self.inventory.settings.host_id,
            "samples": [asdict(s) for s in sorted(self.samples.values(), key=lambda s: s.database_id)],
        }

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception as exc:
                log.warning("storage sampling failed", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
