"""Prisma 6 Data Proxy routes (`DataProxyEngine`): `/{clientVersion}/{schemaHash}/…`, through the edge.

The client sends the JSON protocol and, when we do not have it yet, its schema: a query for an
unknown hash gets 404 `{"EngineNotStarted":{"reason":"SchemaMissing"}}`, the client PUTs the schema
(base64) and retries. Query errors come back as 200 with `errors[].user_facing_error`, as the client
expects; interactive transactions get an absolute `data-proxy.endpoint` on the edge's address.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bwcontract.codes import Code

from .. import jsoninput
from ..auth import caller_of
from ..caller import Caller
from ..engine.outcome import Outcome
from ..engine.request import JsonQuery, is_batch, parse, parse_batch
from ..engine.schema import Schema
from ..errors import BreakwaterError
from ..http import error_headers
from ..limits import check_response, payload_too_large
from ..observe import served
from ..plans.telemetry import Capture
from ..state import OriginState, state_of
from .operations import Models, run_batch, run_one
from .options import Prisma6TransactionOptions, open_transaction

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_JSON = "application/json; charset=utf-8"


def _schema_missing() -> Response:
    return JSONResponse({"EngineNotStarted": {"reason": "SchemaMissing"}}, status_code=404)


# Database errors Prisma 6's engines leave unclassified (Prisma 7's executor gives them codes):
# by SQLSTATE, besides every database error without a code (P2039).
_UNCLASSIFIED_IN_6 = frozenset({"22P02", "23001"})


def unclassified(exc: BreakwaterError) -> bool:
    sqlstate = (
        exc.meta.get("database", {}).get("sqlstate") if isinstance(exc.meta.get("database"), dict) else None
    )
    return exc.code == Code.DATABASE_ERROR or (
        exc.code != Code.RAW_QUERY_FAILED and sqlstate in _UNCLASSIFIED_IN_6
    )


def user_facing(exc: BreakwaterError) -> dict[str, Any]:
    """One entry of `errors[]` the way the 6.x client reads it."""
    if unclassified(exc):
        # No `error_code`: the client throws PrismaClientUnknownRequestError, as with Prisma 6's engine.
        return {
            "error": exc.message,
            "user_facing_error": {"is_panic": False, "message": exc.message, "meta": {}},
        }
    # The database's own fields (`meta.database`) are for our fronts' logs, not Prisma's meta.
    meta = {k: v for k, v in exc.meta.items() if k != "database"}
    if exc.code == Code.QUERY_INVALID:
        # The 6.x client renders these from the engine's structured validation error in `meta`
        # (and throws PrismaClientValidationError); an unstructured meta crashes its renderer.
        meta = engine_validation_meta(exc)
    facing: dict[str, Any] = {"is_panic": False, "message": exc.message, "meta": meta, "error_code": exc.code}
    return {"error": f"PrismaClientKnownRequestError: {exc.message}", "user_facing_error": facing}


_ARGUMENT_PREFIX = re.compile(r"^Invalid value for argument `[^`]*`: ")


def engine_validation_meta(exc: BreakwaterError) -> dict[str, Any]:
    """Our validation error as the engine's `InvalidArgumentValue`, the kind whose rendering
    carries a free-form reason: the client marks the argument at `argumentPath` in the call it
    prints and appends our message."""
    raw_path = exc.meta.get("argumentPath")
    path = [part for part in raw_path.split(".") if part] if isinstance(raw_path, str) else []
    reason = _ARGUMENT_PREFIX.sub("", exc.message).rstrip(".")
    return {
        "kind": "InvalidArgumentValue",
        # The client drops the first element, the engine's root field; the rest is relative to the call.
        "selectionPath": ["query"],
        "argumentPath": path,
        "argument": {"name": path[-1] if path else "query", "typeNames": []},
        "underlyingError": reason,
    }


def known_error(exc: BreakwaterError) -> Response:
    """A non-2xx answer the 6.x client turns into a known request error with `error_code`."""
    body = {**exc.body(), "is_panic": False, "error_code": exc.code}
    return JSONResponse(body, status_code=exc.status, headers=error_headers(exc))


def _result_key(query: JsonQuery) -> str:
    if query.action in ("queryRaw", "executeRaw"):
        return query.action
    return f"{query.action}{query.model or ''}"


def _data(query: JsonQuery, outcome: Outcome, extensions: str = "") -> str:
    """`{"data": {...}}`, with `,"extensions": ...` when `extensions` (JSON text) is given."""
    tail = f',"extensions":{extensions}' if extensions else ""
    return f'{{"data":{{{json.dumps(_result_key(query))}:{outcome.json}}}{tail}}}'


async def _schema(state: OriginState, caller: Caller, hash_: str) -> Schema | None:
    return await state.schemas.uploaded(state.store.pool, caller.database_id, hash_)


async def _graphql(http: Request, tx_id: str | None) -> Response:
    caller = await caller_of(http)
    state = state_of(http)
    schema = await _schema(state, caller, http.path_params["hash"])
    if schema is None:
        return _schema_missing()
    found: Schema = schema

    async def schema_for(_conn: Any, _refresh: bool) -> Schema:
        return found

    models = Models()
    record = served(http)
    # The client's `log: ['query', ...]` asks for the statements back (`extensions.logs`), its
    # tracing for the engine's spans (`extensions.traces`).
    capture = Capture.from_header(http.headers.get("x-capture-telemetry"))
    try:
        body = await jsoninput.body(http)
        if is_batch(body):
            batch = parse_batch(body)
            results = await run_batch(
                state, caller, schema_for, batch, tx_id, capture.on_query, record=record, protocol="prisma6"
            )
            parts = []
            for query, result, operation in zip(batch.queries, results, record.operations, strict=True):
                if isinstance(result, BreakwaterError):
                    parts.append(json.dumps({"errors": [user_facing(result)]}))
                else:
                    models.add(result)
                    parts.append(_data(query, result))
                operation.part_bytes = len(parts[-1].encode())
            text = '{"batchResult":[' + ",".join(parts) + '],"extensions":' + (_logs(capture) or "{}") + "}"
        else:
            query = parse(body)
            outcome = await run_one(
                state, caller, schema_for, query, tx_id, capture.on_query, record=record, protocol="prisma6"
            )
            models.add(outcome)
            models.shape = outcome.shape
            text = _data(query, outcome, _logs(capture))
        encoded = text.encode()
        check_response(await state.tenants.limits.of(caller.database_id), encoded)
    except BreakwaterError as exc:
        if exc.status == 401:
            raise
        extensions = _extensions(capture)
        failed = {"errors": [user_facing(exc)], **({"extensions": extensions} if extensions else {})}
        return JSONResponse(failed, headers={"Prisma-Error-Code": exc.code})
    return Response(encoded, media_type=_JSON, headers=models.headers())


def _logs(capture: Capture) -> str:
    """`{"logs": [...], "traces": [...]}` as JSON text when the request captured any, else ""."""
    extensions = _extensions(capture)
    return json.dumps(extensions, separators=(",", ":"), default=str) if extensions else ""


def _extensions(capture: Capture) -> dict[str, Any]:
    extensions: dict[str, Any] = {}
    if capture.logs:
        extensions["logs"] = capture.logs
    if capture.tracing:
        extensions["traces"] = capture.traces()
    return extensions


async def graphql(http: Request) -> Response:
    return await _graphql(http, None)


async def itx_graphql(http: Request) -> Response:
    return await _graphql(http, http.path_params["tx"])


async def upload_schema(http: Request) -> Response:
    # Read-only keys upload too: a client needs its schema on the server to read.
    caller = await caller_of(http)
    state = state_of(http)
    try:
        body = await http.body()
        limit = (await state.tenants.limits.of(caller.database_id)).schema_bytes
        if len(body) > limit:
            raise payload_too_large("Prisma schema upload", limit, len(body))
        await state.schemas.upload(state.store.pool, caller.database_id, http.path_params["hash"], body)
    except BreakwaterError as exc:
        return known_error(exc)
    return JSONResponse({})


def endpoint_base(http: Request, state: OriginState) -> str:
    """The edge's address as the client reached it (the edge sends x-forwarded-host/proto)."""
    host = http.headers.get("x-forwarded-host", "")
    proto = http.headers.get("x-forwarded-proto", "")
    if host and _HOST.match(host) and proto in ("http", "https"):
        return f"{proto}://{host}"
    return state.settings.public_url


async def start_transaction(http: Request) -> Response:
    caller = await caller_of(http)
    state = state_of(http)
    try:
        options = await jsoninput.read(http, Prisma6TransactionOptions, optional=True)
        tx = await open_transaction(state, caller, options)
    except BreakwaterError as exc:
        return known_error(exc)
    version, hash_ = http.path_params["version"], http.path_params["hash"]
    endpoint = f"{endpoint_base(http, state)}/{version}/{hash_}/itx/{tx.id}"
    return JSONResponse({"id": tx.id, "extensions": {}, "data-proxy": {"endpoint": endpoint}})


async def _finish(http: Request, commit: bool) -> Response:
    caller = await caller_of(http)
    state = state_of(http)
    tx_id = http.path_params["tx"]
    try:
        if commit:
            await state.transactions.commit(caller, tx_id)
        else:
            await state.transactions.rollback(caller, tx_id)
    except BreakwaterError as exc:
        return known_error(exc)
    return JSONResponse({})


async def commit(http: Request) -> Response:
    return await _finish(http, True)


async def rollback(http: Request) -> Response:
    return await _finish(http, False)


routes = [
    Route("/{version}/{hash}/graphql", graphql, methods=["POST"]),
    Route("/{version}/{hash}/schema", upload_schema, methods=["PUT"]),
    Route("/{version}/{hash}/transaction/start", start_transaction, methods=["POST"]),
    Route("/{version}/{hash}/itx/{tx}/graphql", itx_graphql, methods=["POST"]),
    Route("/{version}/{hash}/itx/{tx}/commit", commit, methods=["POST"]),
    Route("/{version}/{hash}/itx/{tx}/rollback", rollback, methods=["POST"]),
]
