"""Storage per database and day, from the host agent's samples (hosts/storage.py samples without
waking anything: a dedicated instance's data directory on disk; a shared database's size while its
cluster is up, else its last size again).

Each sample carries the time it was taken, and a day's row only takes samples newer than its last,
so polling twice, or from several origins, counts each sample once. A day's average is what
GiB-months are computed from (plans.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import asyncpg

from bwservice.tasks import cancel_and_wait

from ..control.hostbook import HostBook
from ..errors import UpstreamError

log = logging.getLogger("breakwater.metering")


async def record(pool: asyncpg.Pool, samples: list[dict[str, Any]]) -> int:
    """Add the samples not counted yet; how many rows they touched."""
    rows = []
    for sample in samples:
        try:
            at = float(sample["sampled_at"])
            rows.append(
                (
                    str(sample["database_id"]),
                    dt.datetime.fromtimestamp(at, dt.UTC).date(),
                    int(sample["bytes"]),
                    at,
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    if not rows:
        return 0
    status = await pool.execute(
        "INSERT INTO storage_daily AS s (database_id, day, samples, bytes_sum, bytes_last, sampled_at) "
        "SELECT t.db, t.day, 1, t.bytes, t.bytes, t.at "
        "FROM unnest($1::text[], $2::date[], $3::int8[], $4::float8[]) AS t(db, day, bytes, at) "
        "ON CONFLICT (database_id, day) DO UPDATE SET samples = s.samples + 1, "
        "bytes_sum = s.bytes_sum + EXCLUDED.bytes_sum, bytes_last = EXCLUDED.bytes_last, "
        "sampled_at = EXCLUDED.sampled_at WHERE s.sampled_at < EXCLUDED.sampled_at",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    return int(status.rsplit(" ", 1)[-1])


class StorageRecorder:
    def __init__(self, pool: asyncpg.Pool, hosts: HostBook, interval: float) -> None:
        self._pool = pool
        self._hosts = hosts
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def poll(self, sample_now: bool = False) -> int:
        """Record the agent's latest samples (with `sample_now`, it takes new ones first)."""
        found = await (self._hosts.sample_storage() if sample_now else self._hosts.storage())
        return await record(self._pool, list(found.get("samples", [])))

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll()
            except (UpstreamError, OSError, asyncpg.PostgresError) as exc:
                log.warning("storage samples could not be read", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
