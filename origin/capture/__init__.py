"""Change data capture: a logical replication slot per database (`pgoutput`), decoded into events and
pushed to the edge's event queue; the slot advances only after the edge stored a batch.

Stages, each a module: `pgwire` (the replication protocol on asyncio), `pgoutput` (messages),
`decode` (changes → events, values encoded like query results), `reader` (one database's stream →
batches → confirmations), `push` (batches to the edge), `supervisor` (enabling, and leadership across
origin processes with advisory locks), `routes` (the origin's capture endpoints).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import asyncpg
import httpx

from ..engine.schema import Schema
from ..schemas import SchemaCache
from ..settings import Settings
from ..tenants import Tenants
from .push import EdgePusher
from .reader import ReaderSettings, SchemaSource
from .supervisor import CaptureHosts, CaptureSupervisor


def reader_settings(env: Mapping[str, str]) -> ReaderSettings:
    base = ReaderSettings()
    return ReaderSettings(
        batch_events=int(env.get("BREAKWATER_CAPTURE_BATCH_EVENTS") or base.batch_events),
        # Fault tests only: wait this long between the edge's "stored" and confirming to Postgres.
        confirm_delay=float(env.get("BREAKWATER_CAPTURE_CONFIRM_DELAY_MS") or 0) / 1000,
    )


def build(
    settings: Settings,
    control: asyncpg.Pool,
    http: httpx.AsyncClient,
    tenants: Tenants,
    schemas: SchemaCache,
    hosts: CaptureHosts,
) -> CaptureSupervisor:
    """The supervisor of this origin process, wired to its control plane, the host agents (each
    database's own) and the edge."""

    def schema_source(database_id: str) -> SchemaSource:
        async def get(refresh: bool) -> Schema:
            async with tenants.connection(database_id) as conn:
                return await schemas.get(database_id, conn, refresh=refresh)

        return get

    pusher = EdgePusher(settings.edge_url, settings.service_secrets[0], http)
    return CaptureSupervisor(
        settings.control_dsn,
        control,
        hosts,
        pusher.push,
        schema_source,
        reader_settings(os.environ),
        takeover_interval=float(os.environ.get("BREAKWATER_CAPTURE_TAKEOVER_SECONDS") or 1.0),
    )
