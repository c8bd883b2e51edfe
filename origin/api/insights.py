"""The insights routes:

- `GET /v1/insights[?window=hour|day|week]` (through the edge, with a database's key, any scope):
  that database's own shapes and recommendations. The key names the database; nothing else does.
- `GET /admin/databases/{name}/insights[?window=…]` (admin token): the same for an operator.
- `PUT /admin/insights {"enabled": bool}` (admin token): switch this origin process's insights
  off or on (shedding their cost; the benchmark measures it). Figures of what ran while off are
  not recorded.

Before answering, this process's journal and notes are flushed, so what it served is counted.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import jsoninput
from ..auth import caller_of
from ..errors import BadRequest
from ..insights import report
from ..insights.figures import WINDOWS
from ..state import OriginState, state_of
from .admin import _authorize, _database_named


class Switch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(strict=True)


def window_of(request: Request) -> str:
    window = request.query_params.get("window", "day")
    if window not in WINDOWS:
        raise BadRequest(
            f"`window` must be one of {', '.join(WINDOWS)}, not {window[:20]!r}.",
            hint="The default is `day`.",
        )
    return window


async def _report(state: OriginState, database_id: str, window: str) -> dict[str, Any]:
    await state.metering.meter.flush()
    await state.insights.notes.flush()
    started = time.perf_counter()
    found = await report.build(
        state.store.pool,
        database_id,
        window,
        lambda: state.tenants.serving(database_id),
        lambda: state.insights.hypopg(database_id),
    )
    found["took_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return found


async def own_insights(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    window = window_of(http)
    state = state_of(http)
    return JSONResponse(
        {"database": caller.key.database_name, **await _report(state, caller.database_id, window)}
    )


async def database_insights(http: Request) -> JSONResponse:
    state = _authorize(http)
    db = await _database_named(state, http.path_params["name"])
    window = window_of(http)
    return JSONResponse({"database": db.name, **await _report(state, db.id, window)})


async def switch(http: Request) -> JSONResponse:
    state = _authorize(http)
    wanted = await jsoninput.read(http, Switch)
    state.insights.enable(wanted.enabled)
    return JSONResponse({"enabled": wanted.enabled})


routes = [
    Route("/v1/insights", own_insights, methods=["GET"]),
    Route("/admin/databases/{name}/insights", database_insights, methods=["GET"]),
    Route("/admin/insights", switch, methods=["PUT"]),
]
