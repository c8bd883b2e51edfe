"""The host agent's routes for moving a database to another host (the work is moving.py's; the
origin's control/moves.py calls them in order). agent.py lists the routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import movepackage
from .agentcore import Agent
from .fleet import FleetError


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object.")
    return body


async def fence(request: Request, agent: Agent) -> JSONResponse:
    body = await _json_body(request)
    grace = float(body.get("grace", 2.0))
    if not 0 <= grace <= 60:
        raise ValueError("grace is 0 to 60 seconds")
    return JSONResponse(await agent.fleet.relocation.fence(request.path_params["database_id"], grace))


async def unfence(request: Request, agent: Agent) -> JSONResponse:
    return JSONResponse(await agent.fleet.relocation.unfence(request.path_params["database_id"]))


async def export(request: Request, agent: Agent) -> JSONResponse:
    return JSONResponse(await agent.fleet.relocation.export(request.path_params["database_id"]))


async def export_bytes(request: Request, agent: Agent) -> Response:
    database_id = request.path_params["database_id"]
    path = movepackage.spool_path(agent.fleet, database_id, "out")
    if not path.exists():
        raise FleetError(f"no package of {database_id!r} is ready: export it first", 404)
    return StreamingResponse(
        movepackage.package_chunks(path),
        media_type="application/octet-stream",
        headers={"content-length": str(path.stat().st_size)},
    )


async def import_database(request: Request, agent: Agent) -> JSONResponse:
    """The body is the package's manifest (one line of JSON), then the package's bytes."""
    stream = request.stream()
    head = bytearray()
    rest = b""
    async for chunk in stream:
        head += chunk
        if b"\n" in head:
            line, _, rest = bytes(head).partition(b"\n")
            break
        if len(head) > movepackage.MANIFEST_LIMIT:
            raise ValueError("the package's manifest is too long")
    else:
        raise ValueError("the body holds no manifest line")
    manifest = json.loads(line)
    if not isinstance(manifest, dict):
        raise ValueError("the manifest must be a JSON object")

    async def remainder() -> AsyncIterator[bytes]:
        if rest:
            yield rest
        async for more in stream:
            yield more

    return JSONResponse(await agent.fleet.relocation.import_(manifest, remainder()), status_code=201)


async def release(request: Request, agent: Agent) -> JSONResponse:
    body = await _json_body(request)
    host, proxy = str(body.get("host", "")), str(body.get("proxy", ""))
    if not host or not proxy:
        raise ValueError('say where the database went: {"host", "proxy"}')
    return JSONResponse(await agent.fleet.relocation.release(request.path_params["database_id"], host, proxy))
