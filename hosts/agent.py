"""The host agent's HTTP service: provision, list and drop tenant databases on this machine."""

from __future__ import annotations

import contextlib
import hmac
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import capture
from .postgres import PostgresInstance
from .service_user import service_user
from .shared import SharedCluster


@dataclass(frozen=True)
class AgentSettings:
    root: Path
    token: str
    host_id: str = "local"
    durable: bool = True

    @classmethod
    def from_env(cls) -> AgentSettings:
        return cls(
            root=Path(os.environ.get("BREAKWATER_HOSTS_ROOT", ".breakwater/hosts")).resolve(),
            token=os.environ["BREAKWATER_HOSTS_TOKEN"],
            host_id=os.environ.get("BREAKWATER_HOST_ID", "local"),
            durable=os.environ.get("BREAKWATER_PG_FAST", "") != "1",
        )


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.user = service_user()
        self.shared = SharedCluster(PostgresInstance(settings.root / "instances" / "shared-1", self.user))

    def start(self) -> None:
        """Create the shared cluster on first start; adopt it if it is running already."""
        instance = self.shared.instance
        if not instance.exists():
            instance.create(durable=self.settings.durable)
        instance.start()


def _authorized(request: Request) -> bool:
    agent: Agent = request.app.state.agent
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), agent.settings.token.encode())


def _refused() -> JSONResponse:
    return JSONResponse(
        {"code": "BW2002", "message": "The host agent token is missing or wrong."}, status_code=401
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "host": request.app.state.agent.settings.host_id})


async def create_database(request: Request) -> JSONResponse:
    if not _authorized(request):
        return _refused()
    agent: Agent = request.app.state.agent
    body = await request.json()
    placement = body.get("placement", "shared")
    if placement != "shared":
        return JSONResponse(
            {
                "code": "BW1001",
                "message": f"This host offers the 'shared' placement only, not {placement!r}.",
            },
            status_code=400,
        )
    try:
        dsn = await agent.shared.create_database(str(body.get("id", "")))
    except ValueError as exc:
        return JSONResponse({"code": "BW1001", "message": str(exc)}, status_code=400)
    return JSONResponse(
        {
            "host": agent.settings.host_id,
            "instance": agent.shared.instance.root.name,
            "placement": "shared",
            "dsn": dsn,
        },
        status_code=201,
    )


async def list_databases(request: Request) -> JSONResponse:
    if not _authorized(request):
        return _refused()
    agent: Agent = request.app.state.agent
    return JSONResponse({"databases": await agent.shared.list_databases()})


async def drop_database(request: Request) -> JSONResponse:
    if not _authorized(request):
        return _refused()
    agent: Agent = request.app.state.agent
    try:
        await capture.drop_slots(agent.shared.instance, request.path_params["database_id"])
        await agent.shared.drop_database(request.path_params["database_id"])
    except ValueError as exc:
        return JSONResponse({"code": "BW1001", "message": str(exc)}, status_code=400)
    return JSONResponse({"dropped": request.path_params["database_id"]})


async def enable_capture(request: Request) -> JSONResponse:
    """Prepare a database for change capture (see capture.py); returns the capture DSN."""
    if not _authorized(request):
        return _refused()
    agent: Agent = request.app.state.agent
    try:
        found = await capture.enable(agent.shared.instance, request.path_params["database_id"])
    except ValueError as exc:
        return JSONResponse({"code": "BW1001", "message": str(exc)}, status_code=400)
    return JSONResponse(found)


async def disable_capture(request: Request) -> JSONResponse:
    if not _authorized(request):
        return _refused()
    agent: Agent = request.app.state.agent
    try:
        dropped = await capture.drop_slots(agent.shared.instance, request.path_params["database_id"])
    except ValueError as exc:
        return JSONResponse({"code": "BW1001", "message": str(exc)}, status_code=400)
    return JSONResponse({"dropped_slots": dropped})


def create_app(settings: AgentSettings | None = None) -> Starlette:
    agent = Agent(settings or AgentSettings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        agent.start()
        app.state.agent = agent
        yield

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/databases", create_database, methods=["POST"]),
            Route("/databases", list_databases, methods=["GET"]),
            Route("/databases/{database_id}", drop_database, methods=["DELETE"]),
            Route("/databases/{database_id}/capture", enable_capture, methods=["POST"]),
            Route("/databases/{database_id}/capture", disable_capture, methods=["DELETE"]),
        ],
        lifespan=lifespan,
    )
