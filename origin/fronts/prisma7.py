"""Prisma 7 routes (`accelerateUrl` clients): the client compiles every query into a plan that carries
its SQL and posts it here; we run it with `origin.plans` (see PRISMA-WIRE.md §2).

    GET  /connection-info                   what the client's compiler needs to know about us
    POST /query                             run one plan
    POST /transaction/start                 open an interactive (or batch) transaction
    POST /transaction/{id}/query|commit|rollback

Errors use the shape the client reads: `{"code", "error", "meta"}` with the error's HTTP status.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bwcontract.codes import Code
from bwcontract.wire import MODELS_READ, MODELS_WRITTEN, SHAPE

from .. import jsoninput, readonly
from ..auth import caller_of
from ..caller import Caller
from ..errors import BadRequest, BreakwaterError, NotFound
from ..http import error_headers
from ..limits import check_response
from ..observe import served, shape_id
from ..plans import check
from ..plans.comments import sql_comment
from ..plans.executor import Database
from ..plans.interpreter import Interpreter
from ..plans.telemetry import Capture
from ..plans.template import MAX_BIND_VALUES
from ..state import state_of
from .options import TransactionOptions, open_transaction

log = logging.getLogger("breakwater.prisma7")
_seen_versions: set[str] = set()


def _client_version(http: Request) -> str | None:
    """The client's version (`Prisma-Engine-Hash` in 7.x); untested versions are logged once."""
    version = http.headers.get("prisma-engine-hash")
    if version and version not in check.TESTED_CLIENT_VERSIONS and version not in _seen_versions:
        _seen_versions.add(version)
        log.warning(
            "untested Prisma Client version; unknown plan nodes will be refused",
            extra={"fields": {"version": version, "tested": list(check.TESTED_CLIENT_VERSIONS)}},
        )
    return version


_RAW_OPERATIONS = frozenset({"queryRaw", "executeRaw"})


@dataclass(frozen=True)
class PlanRequest:
    operation: str
    model: str | None
    plan: dict[str, Any]
    params: dict[str, Any]
    comment: str = ""  # the client's sqlcommenter tags, formatted (plans/comments.py)

    @property
    def raw(self) -> bool:
        return self.operation in _RAW_OPERATIONS

    def checked(self, client_version: str | None) -> tuple[check.PlanFacts, str]:
        """The plan checked (`check.check`: every node known, the tables its SQL touches) and its shape
        id; the plan without its values (they travel in `params`) is one per query shape."""
        return _checked_plans.check(
            json.dumps(self.plan, separators=(",", ":"), default=str), self.plan, client_version
        )


class CheckedPlans:
    """What checking a plan found, by the plan's text: a client sends the same few plans over and over
    (values travel apart, in `params`), and walking every node of each again was a large part of a
    request's work. Keyed by the whole text (never a digest of it: two plans that differ must never
    share an answer); a plan that fails its check is not kept, so it fails again."""

    MAX_PLANS = 2048
    MAX_TEXT = 64 * 1024  # larger plans (long IN lists) are checked every time

    def __init__(self) -> None:
        self._found: dict[str, tuple[frozenset[str], frozenset[str], int, str]] = {}

    def check(self, text: str, plan: Any, client_version: str | None) -> tuple[check.PlanFacts, str]:
        found = self._found.get(text)
        if found is None:
            facts = check.check(plan, client_version)
            found = (
                frozenset(facts.tables_read),
                frozenset(facts.tables_written),
                facts.statements,
                shape_id(text),
            )
            if len(text) <= self.MAX_TEXT:
                if len(self._found) >= self.MAX_PLANS:
                    self._found.clear()
                self._found[text] = found
        read, written, statements, shape = found
        # Fresh sets: the run adds what the plan's statements touched (raw SQL) to them.
        return check.PlanFacts(set(read), set(written), statements), shape


_checked_plans = CheckedPlans()


def parse_plan_request(body: bytes) -> PlanRequest:
    data = jsoninput.loads(body) if body else {}
    if not isinstance(data, dict) or not isinstance(data.get("plan"), dict):
        raise BadRequest('Expected {"operation", "plan", "params"} (a Prisma 7 query plan).')
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest("`params` must be an object of placeholder values.")
    model = data.get("model")
    return PlanRequest(
        str(data.get("operation", "")),
        str(model) if model else None,
        data["plan"],
        params,
        sql_comment(data.get("comments")),
    )


_ADAPTER_KINDS = {
    "23505": "UniqueConstraintViolation",
    "23503": "ForeignKeyConstraintViolation",
    "23502": "NullConstraintViolation",
    "42P01": "TableDoesNotExist",
    "42703": "ColumnNotFound",
    "40001": "TransactionWriteConflict",
}


def _wire_error(exc: BreakwaterError) -> tuple[str, dict[str, Any]]:
    """Message and meta of a database error as Prisma 7 clients see them (a `driverAdapterError`)."""
    meta = dict(exc.meta or {})
    database = meta.pop("database", None)
    if not isinstance(database, dict) or "sqlstate" not in database:
        return exc.message, meta
    meta.pop("code", None)
    meta.pop("message", None)
    sqlstate = str(database["sqlstate"])
    cause: dict[str, Any] = {
        "originalCode": sqlstate,
        "originalMessage": database.get("message", ""),
        "kind": _ADAPTER_KINDS.get(sqlstate, "postgres"),
    }
    if sqlstate in ("23505", "23503") and database.get("constraint"):
        cause["constraint"] = {"index": database["constraint"]}
    elif sqlstate == "23502" and database.get("column"):
        cause["constraint"] = {"fields": [database["column"]]}
    if cause["kind"] == "postgres":
        cause.update(code=sqlstate, message=database.get("message", ""), detail=database.get("detail"))
    if database.get("table"):
        cause["table"] = database["table"]
        meta["table"] = database["table"]
    meta["driverAdapterError"] = {"name": "DriverAdapterError", "cause": cause}
    message = exc.message
    if exc.code == Code.UNIQUE_CONSTRAINT and database.get("constraint"):
        message = f"Unique constraint failed on the constraint: `{database['constraint']}`"
    return message, meta


def _error(exc: BreakwaterError, capture: Capture, request: Request) -> JSONResponse:
    capture.log("error", "Error processing request", error=exc.message, code=exc.code, path=request.url.path)
    message, meta = _wire_error(exc)
    body: dict[str, Any] = {"code": exc.code, "error": message, "meta": meta}
    if exc.hint:
        body["hint"] = exc.hint
    body["extensions"] = capture.extensions()
    return JSONResponse(body, status_code=exc.status, headers=error_headers(exc))


def _ok(payload: dict[str, Any], capture: Capture, headers: dict[str, str] | None = None) -> JSONResponse:
    payload["extensions"] = capture.extensions()
    return JSONResponse(payload, headers=headers)


async def _answer(
    http: Request, caller: Caller, data: Any, capture: Capture, headers: dict[str, str]
) -> JSONResponse:
    """A plan's result, unless its encoded form is over the database's response limit (P6009)."""
    response = _ok({"data": data}, capture, headers)
    try:
        check_response(await state_of(http).tenants.limits.of(caller.database_id), bytes(response.body))
    except BreakwaterError as exc:
        return _error(exc, capture, http)
    return response


def _model_headers(facts: check.PlanFacts, shape: str) -> dict[str, str]:
    headers = {MODELS_READ: ",".join(sorted(facts.tables_read | facts.tables_written)), SHAPE: shape}
    if facts.tables_written:
        headers[MODELS_WRITTEN] = ",".join(sorted(facts.tables_written))
    return headers


async def _run_plan(
    conn: asyncpg.Connection,
    caller: Caller,
    request: PlanRequest,
    capture: Capture,
    in_transaction: bool,
    facts: check.PlanFacts,
) -> Any:
    db = Database(
        conn,
        caller.database_id,
        read_only=not caller.can_write(),
        in_transaction=in_transaction,
        raw=request.raw,
        on_query=capture.on_query,
        comment=request.comment,
    )
    try:
        return await Interpreter(db).run(request.plan, request.params)
    finally:
        facts.tables_read |= {name for _, name in db.touched_read}
        facts.tables_written |= {name for _, name in db.touched_written}


async def _read_only(
    conn: asyncpg.Connection, caller: Caller, request: PlanRequest, capture: Capture, facts: check.PlanFacts
) -> Any:
    # A READ ONLY transaction with its snapshot taken: Postgres refuses `SET TRANSACTION READ WRITE`.
    async with readonly.transaction(conn):
        return await _run_plan(conn, caller, request, capture, True, facts)


async def connection_info(http: Request) -> Response:
    await caller_of(http)
    capture = Capture.from_header(http.headers.get("x-capture-telemetry"))
    # maxBindValues as the pg driver adapter reports it, so the client's compiler chunks `in` lists and
    # createMany the way it would against Postgres directly (the interpreter still chunks what it is sent).
    info = {"supportsRelationJoins": True, "maxBindValues": MAX_BIND_VALUES}
    return _ok({"provider": "postgres", "connectionInfo": info}, capture)


async def query(http: Request) -> Response:
    caller = await caller_of(http)
    capture = Capture.from_header(http.headers.get("x-capture-telemetry"))
    state = state_of(http)
    try:
        request = parse_plan_request(await http.body())
        facts, shape = request.checked(_client_version(http))
        await state.metering.gate.admit(caller)
        operation = served(http).start(caller, "prisma7", request.model, request.operation, None)
        operation.shape = shape
        with operation.running():
            async with state.tenants.serving(caller.database_id, read_only=not caller.can_write()) as conn:
                if caller.can_write():
                    data = await _run_plan(conn, caller, request, capture, False, facts)
                else:
                    data = await _read_only(conn, caller, request, capture, facts)
    except BreakwaterError as exc:
        return _error(exc, capture, http)
    return await _answer(http, caller, data, capture, _model_headers(facts, shape))


async def transaction_start(http: Request) -> Response:
    caller = await caller_of(http)
    capture = Capture.from_header(http.headers.get("x-capture-telemetry"))
    state = state_of(http)
    try:
        options = await jsoninput.read(http, TransactionOptions, optional=True)
        tx = await open_transaction(state, caller, options)
    except BreakwaterError as exc:
        return _error(exc, capture, http)
    return _ok({"id": tx.id}, capture, {"Prisma-Transaction-Id": tx.id})


async def transaction_query(http: Request) -> Response:
    caller = await caller_of(http)
    capture = Capture.from_header(http.headers.get("x-capture-telemetry"))
    state = state_of(http)
    tx_id = http.path_params["tx_id"]
    try:
        request = parse_plan_request(await http.body())
        facts, shape = request.checked(_client_version(http))

        async def run(conn: asyncpg.Connection) -> Any:
            return await _run_plan(conn, caller, request, capture, True, facts)

        await state.metering.gate.admit(caller)
        operation = served(http).start(caller, "prisma7", request.model, request.operation, tx_id)
        operation.shape = shape
        with operation.running():
            data = await state.transactions.run(caller, tx_id, run)
    except BreakwaterError as exc:
        return _error(exc, capture, http)
    return await _answer(http, caller, data, capture, _model_headers(facts, shape))


async def transaction_end(http: Request) -> Response:
    caller = await caller_of(http)
    capture = Capture.from_header(http.headers.get("x-capture-telemetry"))
    state = state_of(http)
    tx_id = http.path_params["tx_id"]
    op = http.path_params["op"]
    try:
        if op not in ("commit", "rollback"):
            raise NotFound(f"No route POST /transaction/{tx_id}/{op}; use query, commit or rollback.")
        if op == "commit":
            await state.transactions.commit(caller, tx_id)
        else:
            await state.transactions.rollback(caller, tx_id)
    except BreakwaterError as exc:
        return _error(exc, capture, http)
    return _ok({}, capture)


routes = [
    Route("/connection-info", connection_info, methods=["GET"]),
    Route("/query", query, methods=["POST"]),
    Route("/transaction/start", transaction_start, methods=["POST"]),
    Route("/transaction/{tx_id}/query", transaction_query, methods=["POST"]),
    Route("/transaction/{tx_id}/{op:str}", transaction_end, methods=["POST"]),
]
