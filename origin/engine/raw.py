"""`queryRaw` / `executeRaw`: the caller's SQL with its `$n` parameters, bound by type.

Parameters arrive as a JSON array (Prisma 6 sends it as a string) whose dates, bytes, bigints and
decimals are tagged `{"prisma__type": …, "prisma__value": …}`. The statement is prepared first so
each value can be converted to the type Postgres expects for its placeholder.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
from typing import Any

import asyncpg

from .. import jsoninput
from ..dberrors import map_database_error
from ..errors import QueryValidationError
from ..rawtypes import TYPE_NAMES, json_float
from .outcome import Outcome, shape_id
from .request import JsonQuery
from .schema import Schema
from .values import datetime_param

_WORDS = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')
_WRITES = re.compile(r"\b(insert|update|delete|merge|truncate|alter|drop|create)\b", re.IGNORECASE)


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


def _untag(value: Any) -> Any:
    if isinstance(value, dict) and "prisma__type" in value and "prisma__value" in value:
        kind, inner = value["prisma__type"], value["prisma__value"]
        if kind == "date":
            return dt.datetime.fromisoformat(str(inner).replace("Z", "+00:00"))
        if kind == "bytes":
            return base64.b64decode(inner)
        if kind == "bigint":
            return int(inner)
        if kind == "decimal":
            return decimal.Decimal(str(inner))
        return inner
    return value


def _bind(value: Any, pg_type: Any) -> Any:
    """One raw parameter as the Python value asyncpg's codec for `pg_type` takes."""
    name = pg_type.name
    kind = pg_type.kind
    try:
        value = _untag(value)
        if value is None:
            return None
        if kind == "array" and isinstance(value, list):
            element = pg_type.element_type if hasattr(pg_type, "element_type") else None
            return [_bind(v, element) if element is not None else v for v in value]
        if name in ("int2", "int4", "int8", "oid"):
            return int(value)
        if name in ("float4", "float8"):
            return float(value)
        if name == "numeric":
            return decimal.Decimal(str(value))
        if name == "bool":
            return bool(value)
        if name in ("json", "jsonb"):
            return value if isinstance(value, str) else json.dumps(value)
        if name == "bytea":
            return value if isinstance(value, bytes) else str(value).encode()
        if name in ("timestamp", "timestamptz", "date", "time", "timetz"):
            moment = (
                value
                if isinstance(value, dt.datetime)
                else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            )
            return datetime_param(moment, name)
        if name == "uuid":
            return str(value)
        if isinstance(value, dt.datetime):
            return _format_time(value)
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict | list):
            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if kind != "composite" else value
    except (ValueError, TypeError, OverflowError, decimal.InvalidOperation) as exc:
        # Bad dates, "x" as a bigint, numbers past int()'s 4,300 digits: the caller's value, not ours.
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise QueryValidationError(f"Raw query parameter {shown} does not fit type {name}: {exc}") from None


def _column_type(pg_type: Any, schema: Schema) -> str:
    if pg_type.kind == "array":
        element = getattr(pg_type, "element_type", None)
        return f"{_column_type(element, schema) if element is not None else 'unknown'}-array"
    if pg_type.name in TYPE_NAMES:
        return TYPE_NAMES[pg_type.name]
    return (
        "enum"
        if pg_type.name in schema.enums or (pg_type.kind == "scalar" and pg_type.schema != "pg_catalog")
        else "unknown"
    )


def _format_time(value: dt.datetime | dt.date | dt.time) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"
    if isinstance(value, dt.date):
        return value.isoformat()
    return (
        value.replace(tzinfo=None).isoformat(timespec="milliseconds")
        if value.microsecond
        else value.replace(tzinfo=None).isoformat()
    )


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind.endswith("-array") and isinstance(value, list):
        return [_value(v, kind[:-6]) for v in value]
    if kind in ("bigint", "decimal"):
        return str(value)
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _format_time(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, int | str | bool):
        return value
    return str(value)


def touched_models(sql: str, schema: Schema) -> set[str]:
    """Models whose table names appear in raw SQL (for the cache's read/written headers)."""
    tables = schema.tables()
    found = set()
    for quoted, bare in _WORDS.findall(sql):
        name = quoted.replace('""', '"') if quoted else bare
        model = tables.get(name) or (tables.get(name.lower()) if not quoted else None)
        if model is not None:
            found.add(model)
    return found


async def run(schema: Schema, query: JsonQuery, conn: asyncpg.Connection) -> Outcome:
    sql, params = _arguments(query)
    models = frozenset(touched_models(sql, schema))
    try:
        statement = await conn.prepare(sql)
        types = statement.get_parameters()
        if len(types) != len(params):
            raise QueryValidationError(
                f"The raw query has {len(types)} placeholder(s) but {len(params)} parameter(s) were given."
            )
        args = [_bind(v, t) for v, t in zip(params, types, strict=True)]
        if query.action == "executeRaw":
            await statement.fetch(*args)
            status = statement.get_statusmsg() or ""
            tail = status.rsplit(" ", 1)[-1]
            count = int(tail) if tail.isdigit() else 0
            tables = schema.tables_of(models)
            return Outcome(str(count), models, models, tables, tables, shape_id(f"raw:{sql}"), count)
        rows = await statement.fetch(*args)
        attributes = statement.get_attributes()
    except asyncpg.PostgresError as exc:
        raise map_database_error(exc, raw=True) from None
    kinds = [_column_type(a.type, schema) for a in attributes]
    body = {
        "columns": [a.name for a in attributes],
        "types": kinds,
        "rows": [[_value(v, k) for v, k in zip(row, kinds, strict=True)] for row in rows],
    }
    written = models if _WRITES.search(sql) else frozenset()
    return Outcome(
        json.dumps(body, separators=(",", ":")),
        models,
        written,
        schema.tables_of(models),
        schema.tables_of(written),
        shape_id(f"raw:{sql}"),
        len(rows),
    )
