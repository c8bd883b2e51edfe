"""Everything a request handler may need, built once at start-up (see app.py's lifespan)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.requests import Request

from .capture.supervisor import CaptureSupervisor
from .control.clients import EdgeClient, HostsClient
from .control.keygate import KeyGate
from .control.store import ControlStore
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
    hosts: HostsClient
    edge: EdgeClient
    tenants: Tenants
    schemas: SchemaCache
    transactions: TransactionManager
    http: httpx.AsyncClient
    workspace_id: str
    capture: CaptureSupervisor
    replays: ReplayGuard


def state_of(request: Request) -> OriginState:
    state: OriginState = request.app.state.bw
    return state
