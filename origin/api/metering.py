"""The metering routes of the origin:

- `GET /v1/usage[?month=YYYY-MM]` (through the edge, with a database's key): that database's own
  figures for the month (UTC), per day and in total, its storage and its plan-limit state.
- `POST /_bw/usage/hits` (the edge, signed): a batch of cache hits (`bwcontract.usage.HitBatch`),
  counted once whatever how often it is delivered.
"""

from __future__ import annotations

import datetime as dt
import re

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwcontract import usage, wire
from bwcontract.codes import Code

from ..auth import caller_of, signed_by_edge
from ..errors import BadRequest, Unauthorized
from ..metering.daily import database_month
from ..state import state_of

_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


def month_of(text: str | None) -> dt.date:
    """`YYYY-MM` as the month's first day; this month (UTC) when not given."""
    if not text:
        return dt.datetime.now(dt.UTC).date().replace(day=1)
    found = _MONTH.match(text)
    if found is None:
        raise BadRequest(f"`month` must be YYYY-MM, not {text[:20]!r}.")
    return dt.date(int(found[1]), int(found[2]), 1)


async def own_usage(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    state = state_of(http)
    month = month_of(http.query_params.get("month"))
    figures = await database_month(state.store.pool, caller.database_id, month)
    limit_state, message, _hint = await state.metering.gate.state(caller.database_id)
    return JSONResponse(
        {
            "database": caller.key.database_name,
            **figures,
            "limit": {"state": limit_state, "message": message},
        }
    )


async def edge_hits(http: Request) -> JSONResponse:
    """A batch of the edge's cache hits; `{"id", "counted"}` (False: counted before)."""
    state = state_of(http)
    signed = await signed_by_edge(http, hint="Hit batches come from the edge.")
    if signed.values.get("op") != "hits":
        raise Unauthorized("This signature is not for a hit batch.", code=Code.UNSIGNED)
    body = await http.body()
    try:
        batch = usage.HitBatch.from_json(body)
    except usage.InvalidUsage as exc:
        raise BadRequest(f"Invalid hit batch: {exc}.") from None
    counted = await state.metering.ledger.hits(batch.id, batch.counts)
    state.metering.evaluator.poke()
    return JSONResponse({"id": batch.id, "counted": counted})


routes = [
    Route("/v1/usage", own_usage, methods=["GET"]),
    Route(wire.USAGE_HITS_PATH, edge_hits, methods=["POST"]),
]
