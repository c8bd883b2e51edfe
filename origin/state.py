"""Everything a request handler may need, built once at start-up (see app.py's lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.requests import Request

from .capture.supervisor import CaptureSupervisor
from .consolesessions import SessionStore
from .control.clients import EdgeClient
from .control.drains import Drainer
from .control.hostbook import HostBook
from .control.hostrecords import HostStore
from .control.keygate import KeyGate
from .control.moves import Mover
from .control.placement import PlacementRules
from .control.store import ControlStore
from .insights import Insights
from .latency import RecentLatency
from .metering import Metering
from .replay import ReplayGuard
from .schemas import SchemaCache
from .settings import Settings
from .tenants import Tenants
from .transactions import TransactionManager


@dataclass
class OriginState:
    settings: Settings
    store: ControlStore
    keygate: KeyGate
    hosts: HostBook  # every host agent; calls about a database go to its own host
    edge: EdgeClient
    tenants: Tenants
    schemas: SchemaCache
    transactions: TransactionManager
    http: httpx.AsyncClient
    workspace_id: str  # the `default` workspace's
    capture: CaptureSupervisor
    replays: ReplayGuard
    console_sessions: SessionStore
    metering: Metering
    console_latency: RecentLatency  # recent query times per database, for the console's percentiles
    insights: Insights
    host_store: HostStore
    placement: PlacementRules
    mover: Mover
    drainer: Drainer


def state_of(request: Request) -> OriginState:
    state: OriginState = request.app.state.bw
    return state
