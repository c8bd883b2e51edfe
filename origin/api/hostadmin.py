"""The hosts' side of the operator API, and the route host agents report to.

POST /_bw/hosts/report                 a host agent's registration and report (registration token)
GET  /admin/hosts                      every host: state, reachability, capacity, databases; and
                                       the instances of those that answer
GET  /admin/hosts/{id}                 one host, its agent's figures, its databases and moves
POST /admin/hosts/{id}/{action}        drain | cordon | uncordon | reset-token
POST /admin/databases/{name}/move      {"host"}: move one database there now (answers when done)
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwcontract.codes import Code

from .. import jsoninput
from ..control.hostrecords import HostRecord
from ..errors import BreakwaterError, NotFound, Unauthorized, database_moving
from ..state import OriginState, state_of
from .admin import _authorize, _database_named

HOST_ID = r"^[a-z0-9][a-z0-9-]{0,39}$"


class HostReport(BaseModel):
    id: str = Field(strict=True, pattern=HOST_ID, description="1-40 lowercase letters, digits or '-'")
    url: str = Field(strict=True, pattern=r"^https?://[^\s]{1,500}$", description="the agent's API URL")
    token: str = Field(strict=True, min_length=16, max_length=500, description="the agent's bearer token")
    proxy: str = Field(
        strict=True, pattern=r"^[^\s/@]{1,300}:[0-9]{1,5}$", description="host:port of its proxy"
    )
    capacity: dict[str, int] = Field(default_factory=dict, description="numbers the agent measured")


class MoveTo(BaseModel):
    host: str = Field(strict=True, pattern=HOST_ID, description="the id of a host")


async def report(request: Request) -> JSONResponse:
    """A host agent's report (hosts/reporting.py): registers it, or refreshes what it holds."""
    state = state_of(request)
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    expected = state.settings.registration_token
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(
            "The registration token is missing or wrong.",
            code=Code.TOKEN_INVALID,
            hint="Give the agent the origins' BREAKWATER_HOSTS_REGISTRATION_TOKEN.",
        )
    body = await jsoninput.read(request, HostReport)
    host = await state.host_store.report(body.id, body.url, body.token, body.proxy, body.capacity)
    return JSONResponse({"host": host.id, "state": host.state})


async def _instances(state: OriginState, host: HostRecord) -> dict[str, Any]:
    try:
        client = state.hosts.client_for(host)
        found: dict[str, Any] = await asyncio.wait_for(client.instances(), 5)
        return found
    except BreakwaterError as exc:
        return {"error": exc.message}
    except TimeoutError:
        return {"error": f"the agent of {host.id!r} did not answer within 5s"}


async def list_hosts(request: Request) -> JSONResponse:
    state = _authorize(request)
    hosts, now = await state.host_store.list(), await state.host_store.now()
    stale = state.placement.stale_seconds
    answers = await asyncio.gather(*(_instances(state, h) for h in hosts if h.reachable(now, stale)))
    instances = [
        {**figures, "host": host.id}
        for host, answer in zip([h for h in hosts if h.reachable(now, stale)], answers, strict=True)
        for figures in answer.get("instances", [])
    ]
    return JSONResponse({"hosts": [h.public(now, stale) for h in hosts], "instances": instances})


async def _host_named(state: OriginState, host_id: str) -> HostRecord:
    host = await state.host_store.get(host_id)
    if host is None:
        raise NotFound(f"There is no host {host_id!r}.", hint="`breakwater host list` shows them.")
    return host


async def show_host(request: Request) -> JSONResponse:
    state = _authorize(request)
    host = await _host_named(state, request.path_params["host_id"])
    now = await state.host_store.now()
    databases = await state.store.pool.fetch(
        "SELECT name, placement, instance, moving_since IS NOT NULL AS moving FROM databases "
        "WHERE host_id = $1 AND deleted_at IS NULL ORDER BY created_at",
        host.id,
    )
    moves = await state.store.pool.fetch(
        "SELECT m.id, d.name AS database, m.source, m.target, m.state, m.step, m.error, m.unavailable_ms, "
        "m.started_at, m.finished_at FROM moves m JOIN databases d ON d.id = m.database_id "
        "WHERE m.source = $1 OR m.target = $1 ORDER BY m.started_at DESC LIMIT 20",
        host.id,
    )
    return JSONResponse(
        {
            "host": host.public(now, state.placement.stale_seconds),
            "agent": await _instances(state, host),
            "databases": [dict(r) for r in databases],
            "moves": [
                {
                    **dict(r),
                    "started_at": r["started_at"].isoformat(),
                    "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None,
                }
                for r in moves
            ],
        }
    )


async def host_action(request: Request) -> JSONResponse:
    """drain (its databases move to other hosts, in the background), cordon (it takes no new
    databases), uncordon (active again; stops a drain), reset-token (its next report binds a new
    agent token)."""
    state = _authorize(request)
    host = await _host_named(state, request.path_params["host_id"])
    action = request.url.path.rsplit("/", 1)[1]
    if action == "reset-token":
        await state.host_store.reset_token(host.id)
    else:
        wanted = {"drain": "draining", "cordon": "cordoned", "uncordon": "active"}[action]
        if action == "drain" and host.state == "drained" and host.databases == 0:
            wanted = "drained"
        await state.host_store.set_state(host.id, wanted)
        if wanted == "draining":
            state.drainer.poke()
    host = await _host_named(state, host.id)
    return JSONResponse({"host": host.public(await state.host_store.now(), state.placement.stale_seconds)})


async def move_database(request: Request) -> JSONResponse:
    """Move one database to the host named, now; answers once it serves from there (or why not)."""
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    wanted = await jsoninput.read(request, MoveTo)
    if db.moving_since is not None:
        raise database_moving(db.name)
    target = await _host_named(state, wanted.host)
    if target.state != "active":
        raise BreakwaterError(
            f"Host {target.id!r} is {target.state}: it takes no databases.",
            code=Code.HOST_STATE,
            hint=f"`breakwater host uncordon {target.id}` makes it active again.",
        )
    return JSONResponse({"move": await state.mover.move(db, target.id)})


routes = [
    Route("/_bw/hosts/report", report, methods=["POST"]),
    Route("/admin/hosts", list_hosts, methods=["GET"]),
    Route("/admin/hosts/{host_id}", show_host, methods=["GET"]),
    *[
        Route(f"/admin/hosts/{{host_id}}/{action}", host_action, methods=["POST"])
        for action in ("drain", "cordon", "uncordon", "reset-token")
    ],
    Route("/admin/databases/{name}/move", move_database, methods=["POST"]),
]
