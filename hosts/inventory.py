"""What this host holds, as the agent knows it: the Postgres instances it runs (`Managed`), the tenant
databases it was asked for (`registry` records), and what the fleet's parts share to look after them.

An instance is `running`, `paused` (its process tree frozen, memory kept), `hibernated` (stopped,
only files), or on its way between those (`starting`, `stopping`); `destroyed` once its files are
gone. Two placements share the machinery: a dedicated instance per database, and the shared cluster
holding many databases.

Boot (boot.py) fills the inventory; provisioning and destroying (provisioning.py) change what it
lists; the other parts only read it and change the state of the instances in it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import freezer
from .postgres import PostgresInstance
from .registry import DatabaseRecord, Forwarding, Forwardings, Registry
from .service_user import ServiceUser
from .settings import AgentSettings
from .shared import SharedCluster
from .template import Template

SHARED_INSTANCE = "shared-1"


class FleetError(Exception):
    """An operation the caller asked for cannot be done; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class MoveError(FleetError):
    """A step of a move cannot be done as things stand (409) or failed (400 with the reason)."""


@dataclass(eq=False)
class Managed:
    """One instance as the agent runs it."""

    name: str
    placement: str  # "shared" (the shared cluster) or "dedicated"
    instance: PostgresInstance
    state: str
    pid: int | None = None
    last_active: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    busy: int = 0  # agent operations inside it right now: never paused meanwhile
    upstream_pids: set[int] = field(default_factory=set)  # backends of proxied connections
    pauses: int = 0
    resumes: int = 0
    starts: int = 0
    hibernations: int = 0
    last_start_ms: float | None = None

    @property
    def group(self) -> str:
        return self.instance.meta.group

    def touch(self) -> None:
        self.last_active = time.monotonic()


class Inventory:
    def __init__(self, settings: AgentSettings, user: ServiceUser) -> None:
        self.settings = settings  # every part reads it when it acts: it may be replaced meanwhile
        self.root = settings.root
        self.user = user
        self.freezer = freezer.detect(settings.freezer)
        self.scope = freezer.scope_for(self.root)
        self.registry = Registry(self.root)
        self.instances: dict[str, Managed] = {}
        self.databases: dict[str, DatabaseRecord] = {}
        self.forwardings = Forwardings(self.root)
        self.moved: dict[str, Forwarding] = self.forwardings.load()  # databases that left this host
        self.shared = SharedCluster(PostgresInstance(self.instances_dir / SHARED_INSTANCE, self.user))
        self.template: Template | None = None  # boot prepares it
        self.copy_mode = "copy"  # how a dedicated instance is copied from the template (boot decides)
        self.proxy_port = 0  # set by the proxy once it listens

    @property
    def instances_dir(self) -> Path:
        return self.root / "instances"

    def group_for(self, name: str) -> str:
        """The freezer group the instance `name`'s process tree goes into."""
        return self.freezer.group_for(self.scope, name)

    def ports_taken(self, besides: Managed) -> set[int]:
        """The ports every other instance is configured for, awake or not."""
        return {m.instance.meta.port for m in self.instances.values() if m is not besides}

    def managed_for(self, database_id: str) -> Managed:
        record = self.databases.get(database_id)
        if record is None:
            raise FleetError(f"there is no database {database_id!r} on this host", 404)
        return self.instances[record.instance]
