"""Query insights: statistics per database and query shape, and recommendations with evidence.

    observe.py ──▶ metering's journal ──▶ ledger ──▶ stats.py (a ledger sink: counts, latency,
                                                     rows, bytes, bursts; edge cache hits per shape)
    fronts/operations.py ──▶ notes.py (this process: SQL of a shape, skip depth, list sizes,
                                       identical reads replayed against ttls) ──▶ flushed
    figures.py (a window's figures) + catalog.py + explain.py (the tenant's own database, now)
        ──▶ rules.py ──▶ report.py ──▶ routes.py (`GET /v1/insights`, the admin route, the CLI)

`Insights` holds the parts app.py wires in and the routes use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

import asyncpg

from bwservice.tasks import cancel_and_wait

from ..control.hostbook import HostBook
from ..errors import BreakwaterError
from ..metering.ledger import Ledger
from .notes import Notes
from .stats import InsightStats, prune

__all__ = ["Insights", "build"]

log = logging.getLogger("breakwater.insights")

PRUNE_SECONDS = 600.0
NOTES_FLUSH_SECONDS = 5.0  # a report flushes this process's notes first: this only bounds their memory


@dataclass
class Insights:
    notes: Notes
    stats: InsightStats
    pool: asyncpg.Pool
    hosts: HostBook
    flush_seconds: float
    _hypopg: dict[str, bool] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def enable(self, on: bool) -> None:
        """Switch this process's insights (the notes on the hot path and the ledger sink)."""
        self.notes.enabled = self.stats.enabled = on

    def start(self) -> None:
        self.notes.start(self.pool, max(self.flush_seconds, NOTES_FLUSH_SECONDS))
        self._task = asyncio.create_task(self._pruning())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.notes.stop()

    async def _pruning(self) -> None:
        while True:
            try:
                await prune(self.pool, dt.datetime.now(dt.UTC))
            except Exception as exc:
                log.warning("insights could not be pruned", extra={"fields": {"error": str(exc)}})
            await asyncio.sleep(PRUNE_SECONDS)

    async def hypopg(self, database_id: str) -> bool:
        """Ask the host agent (once per process and database) to put hypopg in the database."""
        known = self._hypopg.get(database_id)
        if known is None:
            try:
                answer = await self.hosts.enable_hypopg(database_id)
            except BreakwaterError as exc:
                log.warning("hypopg could not be enabled", extra={"fields": {"error": exc.message}})
                return False  # asked again next time
            known = self._hypopg[database_id] = bool(answer.get("hypopg"))
        return known


def build(
    pool: asyncpg.Pool, ledger: Ledger, hosts: HostBook, flush_seconds: float, enabled: bool = True
) -> Insights:
    stats = InsightStats()
    ledger.sinks.append(stats)
    insights = Insights(Notes(), stats, pool, hosts, flush_seconds)
    insights.enable(enabled)
    return insights
