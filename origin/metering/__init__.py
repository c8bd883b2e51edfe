"""Metering: operations and storage counted per database and day, plans on workspaces, spend limits.

    observe.py (every operation served) ──▶ meter.py (local journal) ──▶ ledger.py ──▶ daily.py
    the edge's cache hits (routes.py) ──────────────────────────────────▶ ledger.py ──▶ daily.py
    the host agent's storage samples ──▶ storage.py
    plans.py + spend.py (pure) ──▶ standing.py ──▶ evaluator.py ──▶ limit states: gate.py (here),
                                                                   the edge (pushed), alerts: webhooks.py

`Metering` holds the parts the origin wires together (app.py) and the routes use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bwcontract.codes import Code
from bwservice.journal import Journal

from ..control.clients import EdgeClient
from ..control.hostbook import HostBook
from ..control.store import Workspace
from ..errors import BreakwaterError
from ..observe import ObservationHub
from .daily import DailyUsage
from .evaluator import Evaluator
from .gate import PlanGate
from .ledger import Ledger
from .meter import Meter
from .plans import PlanBook
from .storage import StorageRecorder
from .webhooks import Webhooks

__all__ = ["Metering", "MeteringSettings", "build"]


@dataclass(frozen=True)
class MeteringSettings:
    journal_dir: Path  # this origin process's own (BREAKWATER_METER_DIR)
    source: str  # names this origin's batches (origin:<id>)
    flush_seconds: float = 1.0
    limits_interval: float = 2.0
    webhook_retry_seconds: float = 5.0
    storage_poll_seconds: float = 60.0
    fault_pause_seconds: float = 0.0  # fault tests only: a pause between a count and its answer


@dataclass
class Metering:
    ledger: Ledger
    meter: Meter
    gate: PlanGate
    evaluator: Evaluator
    webhooks: Webhooks
    storage: StorageRecorder
    plans: PlanBook
    _pool: asyncpg.Pool

    async def start(self, control_dsn: str) -> None:
        await self.gate.start(control_dsn)
        self.meter.start()
        self.evaluator.start()
        self.webhooks.start()
        self.storage.start()

    async def stop(self) -> None:
        await self.storage.stop()
        await self.webhooks.stop()
        await self.evaluator.stop()
        await self.meter.stop()
        await self.gate.stop()

    async def check_room(self, workspace: Workspace) -> None:
        """Refuse (P6003) a new database beyond the plan's number of databases."""
        plan = await self.plans.get(workspace.plan)
        if plan.databases is not None and await self._count(workspace.id) >= plan.databases:
            raise BreakwaterError(
                f"Workspace {workspace.name!r} has the {plan.databases} databases plan {plan.name!r} allows.",
                code=Code.PLAN_LIMIT,
                hint=f"Delete a database, or move the workspace to another plan "
                f"(`breakwater plan set {workspace.name} PLAN`).",
            )

    async def _count(self, workspace_id: str) -> int:
        return int(
            await self._pool.fetchval(
                "SELECT count(*) FROM databases WHERE workspace_id = $1 AND deleted_at IS NULL", workspace_id
            )
        )

    async def database_added(self, workspace_id: str) -> None:
        """A limited workspace's new database must be limited at the edge too: push its state again."""
        await self._pool.execute(
            "UPDATE limit_states SET pushed_at = NULL WHERE workspace_id = $1 AND state <> 'ok'", workspace_id
        )
        await self.evaluator.push_pending()


def build(
    settings: MeteringSettings,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    hub: ObservationHub,
    edge: EdgeClient,
    hosts: HostBook,
) -> Metering:
    ledger = Ledger(pool, settings.fault_pause_seconds)
    ledger.sinks.append(DailyUsage())
    webhooks = Webhooks(pool, http, settings.webhook_retry_seconds)
    evaluator = Evaluator(pool, edge, settings.limits_interval, on_alert=webhooks.poke)
    meter = Meter(
        Journal(settings.journal_dir),
        ledger,
        settings.source,
        settings.flush_seconds,
        on_counted=evaluator.poke,
    )
    hub.subscribe(meter.observe)
    return Metering(
        ledger=ledger,
        meter=meter,
        gate=PlanGate(pool),
        evaluator=evaluator,
        webhooks=webhooks,
        storage=StorageRecorder(pool, hosts, settings.storage_poll_seconds),
        plans=PlanBook(pool),
        _pool=pool,
    )
