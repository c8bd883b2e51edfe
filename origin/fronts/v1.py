"""`/v1/...`: Breakwater's own API for the Python client and curl (JSON protocol, introspected schema)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..auth import caller_of
from ..caller import Caller
from ..engine import engine, request
from ..engine.schema import Schema
from ..errors import BadRequest, QueryValidationError
from ..state import state_of


async def _body(http: Request) -> Any:
    try:
        return json.loads(await http.body())
    except ValueError:
        raise BadRequest("The request body is not JSON.") from None


async def run_query(http: Request, caller: Caller, query: request.JsonQuery) -> Any:
    state = state_of(http)
    if engine.is_write(query.action):
        caller.require_write(f"run {query.action}")
    async with state.tenants.connection(caller.database_id) as conn:
        # A read-only key's queries run in a read-only transaction: Postgres itself refuses writes.
        async with conn.transaction(readonly=not caller.can_write()):
            schema = await state.schemas.get(caller.database_id, conn)
            try:
                return await engine.run(schema, query, conn)
            except QueryValidationError:
                if query.model in schema.models:
                    raise
            # The model may have been created since the schema was read: look again, once.
            fresh = await state.schemas.get(caller.database_id, conn, refresh=True)
            return await engine.run(fresh, query, conn)


async def query(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    parsed = request.parse(await _body(http))
    return JSONResponse({"data": await run_query(http, caller, parsed)})


def _schema_json(schema: Schema) -> dict[str, Any]:
    return {
        "models": {
            m.name: {
                "table": m.table,
                "primaryKey": list(m.primary_key),
                "fields": {
                    f.name: {"type": f.type, "required": f.required, "list": f.is_list, "unique": f.is_unique}
                    for f in m.fields.values()
                },
            }
            for m in schema.models.values()
        },
        "enums": schema.enums,
    }


async def schema(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    state = state_of(http)
    async with state.tenants.connection(caller.database_id) as conn:
        found = await state.schemas.get(caller.database_id, conn, refresh=True)
    return JSONResponse(_schema_json(found))


routes = [
    Route("/v1/query", query, methods=["POST"]),
    Route("/v1/schema", schema, methods=["GET"]),
]
