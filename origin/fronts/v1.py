"""`/v1/...`: Breakwater's own API for the Python client and curl (JSON protocol, introspected schema).

- `POST /v1/query`: one query `{modelName, action, query}` → `{"data": …}`, or a batch
  `{"batch": [q…], "transaction"?: {"isolationLevel"?}}` → `{"batchResult": [{"data"}|{"errors"}]}`.
  Raw SQL is the `queryRaw` / `executeRaw` action with `query.arguments` `{query, parameters}`.
- `POST /v1/transaction/start` `{"maxWait"?, "timeout"?, "isolationLevel"?}` → `{"id"}`, then
  `POST /v1/transaction/{id}/query` (same bodies as /v1/query), `/commit`, `/rollback`.
- `GET /v1/schema`: the introspected models.
Errors are `{"code", "message", "meta"?, "hint"?}` with the HTTP status of their kind.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import jsoninput
from ..auth import caller_of
from ..caller import Caller
from ..engine.request import JsonQuery, is_batch, parse, parse_batch
from ..engine.schema import Schema
from ..errors import BreakwaterError
from ..limits import check_response
from ..state import state_of
from .operations import Models, SchemaFor, run_batch, run_one
from .options import TransactionOptions, open_transaction

_JSON = "application/json; charset=utf-8"


def _introspected(http: Request, caller: Caller) -> SchemaFor:
    state = state_of(http)

    async def schema_for(conn: asyncpg.Connection, refresh: bool) -> Schema:
        return await state.schemas.get(caller.database_id, conn, refresh=refresh)

    return schema_for


async def run_query(http: Request, caller: Caller, query: JsonQuery) -> Any:
    """One query for `caller`, its result as a Python value (used by tests and tools)."""
    outcome = await run_one(state_of(http), caller, _introspected(http, caller), query)
    return outcome.value()


async def _run(http: Request, tx_id: str | None) -> Response:
    caller = await caller_of(http)
    state = state_of(http)
    body = await jsoninput.body(http, empty={})
    schema_for = _introspected(http, caller)
    models = Models()
    if is_batch(body):
        batch = parse_batch(body)
        results = await run_batch(state, caller, schema_for, batch, tx_id)
        parts = []
        for result in results:
            if isinstance(result, BreakwaterError):
                parts.append(json.dumps({"errors": [result.body()]}))
            else:
                models.add(result)
                parts.append(f'{{"data":{result.json}}}')
        text = '{"batchResult":[' + ",".join(parts) + "]}"
    else:
        outcome = await run_one(state, caller, schema_for, parse(body), tx_id)
        models.add(outcome)
        text = f'{{"data":{outcome.json}}}'
    encoded = text.encode()
    check_response(await state.tenants.limits.of(caller.database_id), encoded)
    return Response(encoded, media_type=_JSON, headers=models.headers())


async def query(http: Request) -> Response:
    return await _run(http, None)


async def tx_query(http: Request) -> Response:
    return await _run(http, http.path_params["tx"])


async def tx_start(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    options = await jsoninput.read(http, TransactionOptions, optional=True)
    tx = await open_transaction(state_of(http), caller, options)
    return JSONResponse({"id": tx.id})


async def tx_commit(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    await state_of(http).transactions.commit(caller, http.path_params["tx"])
    return JSONResponse({})


async def tx_rollback(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    await state_of(http).transactions.rollback(caller, http.path_params["tx"])
    return JSONResponse({})


def _schema_json(schema: Schema) -> dict[str, Any]:
    return {
        "models": {
            m.name: {
                "table": m.table,
                "primaryKey": list(m.primary_key),
                "fields": {
                    f.name: {
                        "type": f.type,
                        "required": f.required,
                        "list": f.is_list,
                        "unique": f.is_unique,
                        "default": f.has_default,
                    }
                    for f in m.fields.values()
                },
                "relations": {
                    r.name: {"model": r.target, "list": r.is_list, "fields": list(r.fields)}
                    for r in m.relations.values()
                },
            }
            for m in schema.models.values()
        },
        "enums": {e.name: e.names() for e in schema.enums.values()},
    }


async def schema(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    state = state_of(http)
    async with state.tenants.connection(caller.database_id, read_only=not caller.can_write()) as conn:
        found = await state.schemas.get(caller.database_id, conn, refresh=True)
    return JSONResponse(_schema_json(found))


routes = [
    Route("/v1/query", query, methods=["POST"]),
    Route("/v1/schema", schema, methods=["GET"]),
    Route("/v1/transaction/start", tx_start, methods=["POST"]),
    Route("/v1/transaction/{tx}/query", tx_query, methods=["POST"]),
    Route("/v1/transaction/{tx}/commit", tx_commit, methods=["POST"]),
    Route("/v1/transaction/{tx}/rollback", tx_rollback, methods=["POST"]),
]
