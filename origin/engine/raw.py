"""`queryRaw` / `executeRaw` of the JSON protocol: the caller's SQL with its `$n` parameters.

Parameters arrive as a JSON array (Prisma 6 sends it as a string) whose dates, bytes, bigints and
decimals are tagged `{"prisma__type": …, "prisma__value": …}`; values and results go through the
raw codec both Prisma fronts share (`origin.rawcodec`). The tables a statement read and wrote are
the ones Postgres locked for it, so the cache's headers never depend on reading the SQL.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
from typing import Any

import asyncpg

from .. import jsoninput, rawcodec
from ..dberrors import map_database_error
from ..errors import QueryValidationError
from .outcome import Outcome, shape_id
from .request import JsonQuery
from .schema import Schema

_TAGS = {"date": "datetime", "bytes": "bytes", "bigint": "bigint", "decimal": "decimal"}


def _arguments(query: JsonQuery) -> tuple[str, list[Any]]:
    args = query.arguments
    sql = args.get("query")
    if not isinstance(sql, str) or not sql.strip():
        raise QueryValidationError("A raw query needs `query`, the SQL text.", meta={"argumentPath": "query"})
    params = args.get("parameters", [])
    if isinstance(params, str):
        params = jsoninput.loads(params, "`parameters`")
    if not isinstance(params, list):
        raise QueryValidationError("`parameters` must be a JSON array.", meta={"argumentPath": "parameters"})
    return sql, params


def _tag(value: Any) -> tuple[Any, str] | None:
    if isinstance(value, dict) and set(value) == {"prisma__type", "prisma__value"}:
        return value["prisma__value"], _TAGS.get(str(value["prisma__type"]), "unknown")
    return None


def _checked(inner: Any, kind: str) -> Any:
    """A tagged value the engine decodes itself before anything reaches Postgres: one that is not
    what its tag says (a client never sends such) is the caller's mistake, P2009."""
    try:
        if kind == "datetime":
            dt.datetime.fromisoformat(str(inner).strip().replace("Z", "+00:00"))
        elif kind == "bytes":
            base64.b64decode(str(inner), validate=True)
        elif kind == "bigint":
            int(str(inner))
        elif kind == "decimal":
            decimal.Decimal(str(inner))
    except (ValueError, TypeError, decimal.InvalidOperation, binascii.Error) as exc:
        shown = repr(inner) if len(repr(inner)) <= 80 else repr(inner)[:77] + "..."
        raise QueryValidationError(f"Raw query parameter {shown} is not a valid {kind}: {exc}") from None
    return inner


def parameter(value: Any) -> rawcodec.Param:
    """One JSON-protocol raw parameter as the codec's `Param`."""
    tagged = _tag(value)
    if tagged is not None:
        return rawcodec.Param(_checked(*tagged), tagged[1])
    if isinstance(value, list):
        kinds = {t[1] for t in (_tag(v) for v in value) if t is not None}
        items = [_checked(*t) if (t := _tag(v)) is not None else v for v in value]
        return rawcodec.Param(items, kinds.pop() if len(kinds) == 1 else "unknown", is_list=True)
    return rawcodec.Param(value)


async def run(schema: Schema, query: JsonQuery, conn: asyncpg.Connection) -> Outcome:
    sql, values = _arguments(query)
    try:
        done = await rawcodec.run(conn, sql, [parameter(v) for v in values], fetch=query.action == "queryRaw")
    except asyncpg.PostgresError as exc:
        raise map_database_error(exc, raw=True) from None
    body, read, written = done.value, done.read, done.written
    models = {(m.schema, m.table): m.name for m in schema.models.values()}
    return Outcome(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        frozenset(models[t] for t in read | written if t in models),
        frozenset(models[t] for t in written if t in models),
        frozenset(name for _, name in read | written),
        frozenset(name for _, name in written),
        shape_id(f"raw:{sql}"),
        len(body["rows"]) if isinstance(body, dict) else body,
    )
