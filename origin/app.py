"""The origin's Starlette application: fronts + control-plane admin API over shared state."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bwservice import logs

from . import auth, capture
from . import insights as insights_
from . import metering as metering_
from .api import admin, hostadmin
from .api import capture as capture_routes
from .api import insights as insights_routes
from .api import metering as metering_routes
from .api import meteringadmin as metering_admin
from .console import routes as console_routes
from .consolesessions import SessionStore
from .control.clients import EdgeClient
from .control.drains import Drainer
from .control.hostbook import HostBook
from .control.hostrecords import HostStore
from .control.keygate import KeyGate
from .control.migrate import migrate
from .control.moves import Mover, MoveSettings
from .control.movewatch import MoveWatch
from .control.placement import PlacementRules
from .control.store import ControlStore, Database
from .fronts import prisma6, prisma7, v1
from .http import OriginApp
from .latency import RecentLatency
from .limits import MAX_REQUEST_BYTES, LimitsBook, defaults_from_env
from .observe import ObservationHub
from .peers import Membership
from .replay import ReplayGuard
from .revocations import RevocationWatch
from .schemas import SchemaCache
from .settings import Settings
from .state import OriginState
from .tenants import Tenants
from .transactions import TransactionManager


async def health(request: Request) -> JSONResponse:
    settings = request.app.state.bw.settings
    return JSONResponse({"status": "ok", "origin": settings.origin_id, "instance": settings.instance_id})


def all_routes() -> list[BaseRoute]:
    return [
        Route("/_bw/health", health),
        *admin.routes,
        *metering_admin.routes,
        *metering_routes.routes,
        *insights_routes.routes,
        *hostadmin.routes,
        *capture_routes.routes,
        *v1.routes,
        *prisma6.routes,
        *prisma7.routes,
        *console_routes.routes,
    ]


def create_app(settings: Settings | None = None) -> OriginApp:
    settings = settings or Settings.from_env()
    logs.configure()
    # Every operation served is published here (observe.py): metering subscribes in the lifespan.
    hub = ObservationHub()
    latency = RecentLatency()
    hub.subscribe(latency.observe)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        control = await asyncpg.create_pool(settings.control_dsn, min_size=1, max_size=10)
        async with control.acquire() as conn:
            await migrate(conn)
        store = ControlStore(control, settings.key_secret)
        # The workspace of operators who need no others; no caps (see migration 0006).
        workspace_id = await store.ensure_workspace("default", "unlimited")
        keygate = KeyGate(store, settings.key_cache_seconds)
        await keygate.start(settings.control_dsn)
        http = httpx.AsyncClient(timeout=60.0)
        host_store = HostStore(control)
        hosts = HostBook(store, host_store, http)
        placement = PlacementRules(stale_seconds=settings.hosts_stale_seconds)

        async def readonly_dsn(db: Database) -> str:
            # Databases made before read-only roles: the host agent makes the role on first use.
            return await store.readonly_dsn(db.id, lambda: hosts.read_only_role(db.id))

        tenants = Tenants(
            store,
            readonly_dsn=readonly_dsn,
            limits=LimitsBook(store, defaults_from_env(), plans=store),
            gone=auth.database_gone,
        )
        # Every live origin holds its share of each host's budget: join before serving anything.
        membership = Membership(
            settings.control_dsn, settings.origin_id, tenants.divide, settings.peers_interval
        )
        await membership.start()
        transactions = TransactionManager(tenants, settings.origin_id)
        revocations = RevocationWatch(keygate, transactions, settings.key_cache_seconds)
        revocations.start()
        schemas = SchemaCache()
        supervisor = capture.build(settings, control, http, tenants, schemas, hosts)
        # Leadership first: its lock session and replication sessions open while the rest starts, so
        # a restarted origin's events flow again sooner (issue 19).
        await supervisor.start()
        edge = EdgeClient(settings.edge_url, settings.service_secrets[0], http)
        metering = metering_.build(
            metering_.MeteringSettings(
                journal_dir=settings.meter_dir,
                source=f"origin:{settings.origin_id}",
                flush_seconds=settings.meter_flush_seconds,
                limits_interval=settings.limits_interval_seconds,
                webhook_retry_seconds=settings.webhook_retry_seconds,
                storage_poll_seconds=settings.storage_poll_seconds,
                fault_pause_seconds=settings.meter_fault_pause_seconds,
            ),
            control,
            http,
            hub,
            edge,
            hosts,
        )
        insights = insights_.build(
            control, metering.ledger, hosts, settings.meter_flush_seconds, enabled=settings.insights
        )
        mover = Mover(
            settings.control_dsn,
            control,
            hosts,
            MoveSettings(
                settings.move_grace_seconds, settings.move_capture_wait_seconds, settings.move_max_seconds
            ),
        )
        drainer = Drainer(settings.control_dsn, store, host_store, mover, placement)
        moves = MoveWatch(settings.control_dsn, control, tenants.refresh, tenants.moving)
        app.state.bw = OriginState(
            settings=settings,
            store=store,
            keygate=keygate,
            hosts=hosts,
            edge=edge,
            tenants=tenants,
            schemas=schemas,
            transactions=transactions,
            http=http,
            workspace_id=workspace_id,
            capture=supervisor,
            replays=ReplayGuard(time.time()),
            console_sessions=SessionStore(
                control, settings.console_session_seconds, settings.console_idle_seconds
            ),
            metering=metering,
            console_latency=latency,
            insights=insights,
            host_store=host_store,
            placement=placement,
            mover=mover,
            drainer=drainer,
        )
        await metering.start(settings.control_dsn)
        insights.start()
        moves.start()
        drainer.start()
        try:
            yield
        finally:
            await drainer.stop()
            await moves.stop()
            await supervisor.stop()
            await insights.stop()
            await metering.stop()
            await revocations.stop()
            await transactions.close_all()
            await tenants.close()
            await membership.stop()  # after the pools closed: the others may take this share now
            await keygate.stop()
            await http.aclose()
            await control.close()

    # Operations are observed as answered (the origin's own failures included), the origin answers its
    # own failures, bodies are bounded: all in OriginApp's one layer (http.py).
    return OriginApp(routes=all_routes(), lifespan=lifespan, hub=hub, max_body_bytes=MAX_REQUEST_BYTES)
