"""The host agent's HTTP service: provision, list, pause, resume, hibernate and destroy the tenant
databases and instances of this machine; the wake-on-connect proxy runs in the same process (the
agent's parts, started together: agentcore.py).

Routes (Bearer token, except /health):
  POST   /databases                        {"id", "placement": "shared" | "dedicated"} → its DSNs
                                           (owner's and read-only role's)
  GET    /databases                        every database with its instance and state
  DELETE /databases/{id}
  POST   /databases/{id}/readonly          (re)make its read-only role → {"dsn"} (a new password)
  POST|GET|DELETE /databases/{id}/capture  change capture on (→ capture DSN) | its address | off
  POST   /databases/{id}/{action}          pause | resume | hibernate | start | restart its instance
  GET    /instances[?disk=1]               every instance with state and resource figures
  GET    /instances/{name}
  POST   /instances/{name}/{action}
  GET    /storage                          every database's latest storage sample (storage.py)
  POST   /storage/sample                   sample now (nothing is woken), then the same
Moving a database to another host (moveroutes.py, the work moving.py's; control/moves.py runs them):
  POST   /databases/{id}/fence {"grace"}   refuse its roles, end their sessions → {"lsn"}
  POST   /databases/{id}/unfence           admit them again
  POST   /databases/{id}/export            spool its package → the manifest; GET: the package's bytes
  POST   /databases/import                 body: the manifest (one JSON line), then the package
  POST   /databases/{id}/release {"host", "proxy"}  it lives there now: drop it here, keep a note
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bwcontract.codes import Code

from . import capture, hypopg
from .agentcore import Agent
from .fleet import FleetError, Managed
from .freezer import FreezerError
from .moveroutes import export, export_bytes, fence, import_database, release, unfence
from .postgres import PostgresError
from .settings import AgentSettings

__all__ = ["Agent", "AgentSettings", "create_app"]

log = logging.getLogger("breakwater.hosts")


def _authorized(request: Request) -> bool:
    agent: Agent = request.app.state.agent
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), agent.settings.token.encode())


def _error(code: Code, message: str) -> JSONResponse:
    return JSONResponse({"code": code.value, "message": message}, status_code=code.status)


def _refused() -> JSONResponse:
    return _error(Code.TOKEN_INVALID, "The host agent token is missing or wrong.")


# What a FleetError's status says, as a code (the fleet answers these three).
_FLEET_CODES = {code.status: code for code in (Code.BAD_REQUEST, Code.NOT_FOUND, Code.ALREADY_EXISTS)}


Handler = Callable[[Request, Agent], Awaitable[Response]]


def _guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Token check and error mapping for every route but /health."""

    async def endpoint(request: Request) -> Response:
        if not _authorized(request):
            return _refused()
        try:
            return await handler(request, request.app.state.agent)
        except FleetError as exc:
            return _error(_FLEET_CODES[exc.status], str(exc))
        except capture.CaptureRefused as exc:
            return _error(Code.CAPTURE_REFUSED, str(exc))
        except ValueError as exc:
            return _error(Code.BAD_REQUEST, str(exc))
        except (PostgresError, FreezerError, OSError, asyncpg.PostgresError) as exc:
            log.warning("host operation failed", extra={"fields": {"error": str(exc)}})
            return _error(Code.UPSTREAM, f"The host could not do that: {exc}")

    return endpoint


async def health(request: Request) -> JSONResponse:
    agent: Agent = request.app.state.agent
    return JSONResponse(
        {
            "status": "ok",
            "host": agent.settings.host_id,
            "proxy": f"{agent.settings.public_host}:{agent.fleet.proxy_port}",
            "freezer": agent.fleet.freezer.kind,
            "copy": agent.fleet.copy_mode,
            "instance": agent.settings.instance_id,
            "registered": agent.reporter.reported.is_set(),
        }
    )


async def create_database(request: Request, agent: Agent) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error(Code.BAD_REQUEST, "The request body is not JSON.")
    if not isinstance(body, dict):
        return _error(Code.BAD_REQUEST, "The request body must be a JSON object.")
    made = await agent.fleet.provision(str(body.get("id", "")), str(body.get("placement", "shared")))
    return JSONResponse(made, status_code=201)


async def list_databases(request: Request, agent: Agent) -> JSONResponse:
    fleet = agent.fleet
    return JSONResponse(
        {
            "databases": [
                {
                    "id": record.id,
                    "placement": record.placement,
                    "instance": record.instance,
                    "state": fleet.instances[record.instance].state,
                    "created_at": record.created_at,
                }
                for record in sorted(fleet.databases.values(), key=lambda r: r.created_at)
            ]
        }
    )


async def drop_database(request: Request, agent: Agent) -> JSONResponse:
    database_id = request.path_params["database_id"]
    managed = agent.fleet.managed_for(database_id)
    async with agent.fleet.awake(managed):
        # A logical slot keeps DROP DATABASE from succeeding: drop the database's slots first.
        await capture.drop_slots(managed.instance, database_id)
    await agent.fleet.destroy(database_id)
    return JSONResponse({"dropped": database_id})


async def enable_capture(request: Request, agent: Agent) -> JSONResponse:
    """Prepare a database for change capture (see capture.py); returns the capture DSN."""
    database_id = request.path_params["database_id"]
    managed = agent.fleet.managed_for(database_id)
    async with agent.fleet.awake(managed):
        return JSONResponse(await capture.enable(managed.instance, database_id))


async def enable_hypopg(request: Request, agent: Agent) -> JSONResponse:
    """hypopg in the database's `bw_hypopg` schema, for query insights (see hypopg.py)."""
    database_id = request.path_params["database_id"]
    managed = agent.fleet.managed_for(database_id)
    async with agent.fleet.awake(managed):
        return JSONResponse(await hypopg.enable(managed.instance, database_id))


async def read_only_role(request: Request, agent: Agent) -> JSONResponse:
    """The database's read-only role, made (or brought up to date) now, with a new password."""
    return JSONResponse(await agent.fleet.read_only_role(request.path_params["database_id"]))


async def capture_address(request: Request, agent: Agent) -> JSONResponse:
    """Where the database's capture role reaches it now, without waking it."""
    database_id = request.path_params["database_id"]
    return JSONResponse(capture.address(agent.fleet.managed_for(database_id).instance, database_id))


async def disable_capture(request: Request, agent: Agent) -> JSONResponse:
    database_id = request.path_params["database_id"]
    managed = agent.fleet.managed_for(database_id)
    async with agent.fleet.awake(managed):
        dropped = await capture.drop_slots(managed.instance, database_id)
    return JSONResponse({"dropped_slots": dropped})


ACTIONS = ("pause", "resume", "hibernate", "start", "restart")


async def _act(agent: Agent, managed: Managed, action: str) -> JSONResponse:
    fleet = agent.fleet
    if action == "pause":
        await fleet.pause(managed)
    elif action in ("resume", "start"):
        await fleet.wake(managed)
    elif action == "hibernate":
        await fleet.hibernate(managed)
    elif action == "restart":
        await fleet.restart(managed)
    else:
        raise FleetError(f"unknown action {action!r}: {', '.join(ACTIONS)}", 404)
    return JSONResponse(fleet.figures(managed))


async def database_action(request: Request, agent: Agent) -> JSONResponse:
    managed = agent.fleet.managed_for(request.path_params["database_id"])
    return await _act(agent, managed, request.url.path.rsplit("/", 1)[1])


def _instance(agent: Agent, name: str) -> Managed:
    managed = agent.fleet.instances.get(name)
    if managed is None:
        raise FleetError(f"there is no instance {name!r} on this host", 404)
    return managed


async def list_instances(request: Request, agent: Agent) -> JSONResponse:
    disk = request.query_params.get("disk") == "1"
    fleet = agent.fleet
    return JSONResponse(
        {
            "host": {
                **fleet.summary(),
                "proxy_connections": agent.proxy.open,
                "sessions": agent.proxy.sessions,
                "connection_budget": agent.proxy.budget,
                "refused_over_budget": agent.proxy.over_budget,
            },
            "instances": [
                fleet.figures(m, disk) for m in sorted(fleet.instances.values(), key=lambda m: m.name)
            ],
        }
    )


async def get_instance(request: Request, agent: Agent) -> JSONResponse:
    managed = _instance(agent, request.path_params["name"])
    return JSONResponse(agent.fleet.figures(managed, disk=True))


async def instance_action(request: Request, agent: Agent) -> JSONResponse:
    managed = _instance(agent, request.path_params["name"])
    return await _act(agent, managed, request.url.path.rsplit("/", 1)[1])


async def storage(request: Request, agent: Agent) -> JSONResponse:
    return JSONResponse(agent.storage.report())


async def sample_storage(request: Request, agent: Agent) -> JSONResponse:
    await agent.storage.sample()
    return JSONResponse(agent.storage.report())


def create_app(settings: AgentSettings | None = None, agent: Agent | None = None) -> Starlette:
    """The agent's app; its lifespan starts the agent (pass a started `agent` to serve it as is)."""
    started = agent is not None
    agent = agent or Agent(settings or AgentSettings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not started:
            await agent.start()
        try:
            yield
        finally:
            if not started:
                await agent.stop()

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/databases", _guarded(create_database), methods=["POST"]),
            Route("/databases", _guarded(list_databases), methods=["GET"]),
            Route("/databases/import", _guarded(import_database), methods=["POST"]),
            Route("/databases/{database_id}/fence", _guarded(fence), methods=["POST"]),
            Route("/databases/{database_id}/unfence", _guarded(unfence), methods=["POST"]),
            Route("/databases/{database_id}/export", _guarded(export), methods=["POST"]),
            Route("/databases/{database_id}/export", _guarded(export_bytes), methods=["GET"]),
            Route("/databases/{database_id}/release", _guarded(release), methods=["POST"]),
            Route("/databases/{database_id}", _guarded(drop_database), methods=["DELETE"]),
            Route("/databases/{database_id}/readonly", _guarded(read_only_role), methods=["POST"]),
            Route("/databases/{database_id}/hypopg", _guarded(enable_hypopg), methods=["POST"]),
            Route("/databases/{database_id}/capture", _guarded(enable_capture), methods=["POST"]),
            Route("/databases/{database_id}/capture", _guarded(disable_capture), methods=["DELETE"]),
            Route("/databases/{database_id}/capture", _guarded(capture_address), methods=["GET"]),
            *[
                Route(f"/databases/{{database_id}}/{action}", _guarded(database_action), methods=["POST"])
                for action in ACTIONS
            ],
            Route("/storage", _guarded(storage), methods=["GET"]),
            Route("/storage/sample", _guarded(sample_storage), methods=["POST"]),
            Route("/instances", _guarded(list_instances), methods=["GET"]),
            Route("/instances/{name}", _guarded(get_instance), methods=["GET"]),
            *[
                Route(f"/instances/{{name}}/{action}", _guarded(instance_action), methods=["POST"])
                for action in ACTIONS
            ],
        ],
        lifespan=lifespan,
    )
    app.state.agent = agent
    return app
