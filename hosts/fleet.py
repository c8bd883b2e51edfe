"""Every Postgres instance on this host and its life cycle, behind one face.

`Fleet` is what the agent, the proxy and the tests hold: the host's inventory (inventory.py: the
instances, the databases, the settings) with the parts that look after it, one module each:

- boot.py: start-up: the template, then adopting what is on disk and running;
- lifecycle.py: start, pause, resume, hibernate, wake; noticing that an instance died. The invariant
  that makes pausing safe is stated and kept there: every byte the proxy forwards to an instance goes
  through `resume_now()` first, and pausing ends in a synchronous step, so the two never interleave;
- provisioning.py: making and destroying databases, the read-only role, DSNs; spare_stock.py keeps
  spares ready for it in the background;
- idle.py: the idle policy and the loop that applies it;
- routing.py: which instance a proxied connection goes to, or why it may not;
- report.py: figures and summary; capacity.py: what the host reports to the control plane;
- moving.py: this host's half of moving a database to another host (its package on disk:
  movepackage.py; its work inside Postgres: movepostgres.py).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from . import boot, report, routing
from .idle import IdlePolicy
from .inventory import FleetError, Inventory, Managed
from .lifecycle import Lifecycle
from .moving import Relocation
from .postgres import PostgresInstance
from .provisioning import Provisioner
from .routing import RouteError
from .service_user import ServiceUser, service_user
from .settings import AgentSettings
from .spare_stock import SpareStock

__all__ = ["Fleet", "FleetError", "Managed", "RouteError"]


class Fleet(Inventory):
    def __init__(self, settings: AgentSettings, user: ServiceUser | None = None) -> None:
        super().__init__(settings, user or service_user())
        self.lifecycle = Lifecycle(self)
        self.spares = SpareStock(self, self.lifecycle)
        self.provisioner = Provisioner(self, self.lifecycle, self.spares)
        self.idle = IdlePolicy(self, self.lifecycle)
        self.relocation = Relocation(self, self.lifecycle, self.provisioner)

    async def start(self) -> None:
        """Prepare the template, then adopt whatever is on disk and running (nothing is lost)."""
        await boot.boot(self, self.lifecycle, self.spares)

    async def stop(self) -> None:
        await self.idle.stop()
        await self.spares.stop()

    # --- an instance's life cycle (lifecycle.py) ---------------------------------------------------

    def resume_now(self, managed: Managed) -> None:
        """Thaw a paused instance, synchronously: the caller forwards bytes to it next."""
        self.lifecycle.resume_now(managed)

    def notice_exit(self, managed: Managed) -> bool:
        return self.lifecycle.notice_exit(managed)

    async def wake(self, managed: Managed) -> None:
        await self.lifecycle.wake(managed)

    async def pause(self, managed: Managed, *, if_idle: bool = False) -> bool:
        return await self.lifecycle.pause(managed, if_idle=if_idle)

    async def hibernate(self, managed: Managed, *, if_idle: bool = False) -> bool:
        return await self.lifecycle.hibernate(managed, if_idle=if_idle)

    async def restart(self, managed: Managed) -> None:
        await self.lifecycle.restart(managed)

    def awake(self, managed: Managed) -> AbstractAsyncContextManager[PostgresInstance]:
        """Hold the instance awake for an agent operation inside it."""
        return self.lifecycle.awake(managed)

    # --- databases (provisioning.py, routing.py) ---------------------------------------------------

    def dsn(self, database_id: str, password: str, role: str | None = None) -> str:
        return self.provisioner.dsn(database_id, password, role)

    async def provision(self, database_id: str, placement: str) -> dict[str, Any]:
        return await self.provisioner.provision(database_id, placement)

    async def read_only_role(self, database_id: str) -> dict[str, str]:
        return await self.provisioner.read_only_role(database_id)

    async def destroy(self, database_id: str) -> None:
        await self.provisioner.destroy(database_id)

    def route(self, database: str, user: str) -> Managed:
        return routing.route(self, database, user)

    async def settle(self) -> None:
        """Wait for background work (spares) to finish: for tests and benchmarks."""
        await self.spares.settle()

    # --- the idle policy (idle.py) -----------------------------------------------------------------

    def start_idle_policy(self) -> None:
        self.idle.start()

    async def stop_idle_policy(self) -> None:
        await self.idle.stop()

    async def apply_idle_policy(self) -> None:
        await self.idle.apply()

    # --- figures (report.py) -----------------------------------------------------------------------

    def figures(self, managed: Managed, disk: bool = False) -> dict[str, Any]:
        return report.figures(self, managed, disk)

    def summary(self) -> dict[str, Any]:
        return report.summary(self, self.spares.counts())
