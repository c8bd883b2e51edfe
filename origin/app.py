"""The origin's Starlette application: fronts + control-plane admin API over shared state."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bwservice import logs

from . import auth, capture
from .capture import routes as capture_routes
from .control import admin
from .control.clients import EdgeClient, HostsClient
from .control.keygate import KeyGate
from .control.migrate import migrate
from .control.store import ControlStore, Database
from .errors import BreakwaterError
from .fronts import prisma6, prisma7, v1
from .http import BodyLimit, UnexpectedErrors, handle_breakwater_error
from .limits import MAX_REQUEST_BYTES, LimitsBook, defaults_from_env
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
        *capture_routes.routes,
        *v1.routes,
        *prisma6.routes,
        *prisma7.routes,
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    logs.configure()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        control = await asyncpg.create_pool(settings.control_dsn, min_size=1, max_size=10)
        async with control.acquire() as conn:
            await migrate(conn)
        store = ControlStore(control, settings.key_secret)
        workspace_id = await store.ensure_workspace("default")
        await store.ensure_host("local", settings.hosts_url)
        keygate = KeyGate(store, settings.key_cache_seconds)
        await keygate.start(settings.control_dsn)
        http = httpx.AsyncClient(timeout=60.0)
        hosts = HostsClient(settings.hosts_url, settings.hosts_token, http)

        async def readonly_dsn(db: Database) -> str:
            # Databases made before read-only roles: the host agent makes the role on first use.
            return await store.readonly_dsn(db.id, lambda: hosts.read_only_role(db.id))

        tenants = Tenants(
            store,
            readonly_dsn=readonly_dsn,
            limits=LimitsBook(store, defaults_from_env()),
            gone=auth.database_gone,
        )
        transactions = TransactionManager(tenants, settings.origin_id)
        revocations = RevocationWatch(keygate, transactions, settings.key_cache_seconds)
        revocations.start()
        schemas = SchemaCache()
        supervisor = capture.build(settings, control, http, tenants, schemas)
        app.state.bw = OriginState(
            settings=settings,
            store=store,
            keygate=keygate,
            hosts=hosts,
            edge=EdgeClient(settings.edge_url, settings.service_secrets[0], http),
            tenants=tenants,
            schemas=schemas,
            transactions=transactions,
            http=http,
            workspace_id=workspace_id,
            capture=supervisor,
            replays=ReplayGuard(time.time()),
        )
        await supervisor.start()
        try:
            yield
        finally:
            await supervisor.stop()
            await revocations.stop()
            await transactions.close_all()
            await tenants.close()
            await keygate.stop()
            await http.aclose()
            await control.close()

    return Starlette(
        routes=all_routes(),
        lifespan=lifespan,
        # Outermost first: the origin answers its own failures, then bodies are bounded.
        middleware=[Middleware(UnexpectedErrors), Middleware(BodyLimit, max_bytes=MAX_REQUEST_BYTES)],
        exception_handlers={BreakwaterError: handle_breakwater_error},
    )
