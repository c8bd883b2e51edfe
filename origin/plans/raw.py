"""`$queryRaw` results: `{"columns", "types", "rows"}` with the column type names the client's
`deserializeRawResult` understands (int, bigint, float, double, string, enum, bytes, bool, char,
decimal, json, uuid, datetime, date, time, `<type>-array`, unknown) and values in the form it expects
for each (bigint and decimal as strings, json parsed, bytes as base64, datetime with an offset).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Sequence
from typing import Any

from ..rawtypes import TYPE_NAMES, json_float
from .binds import element_type_name

UTC = dt.UTC


def column_type(pg_type: Any) -> str:
    """The client's name for a result column of Postgres type `pg_type` (an asyncpg `Type`)."""
    if pg_type.kind == "array":
        name = element_type_name(pg_type.name)
        element = TYPE_NAMES.get(name)
        if element is None:
            element = "enum" if pg_type.schema not in ("pg_catalog", "information_schema") else "string"
        return f"{element}-array"
    if pg_type.name in TYPE_NAMES:
        return TYPE_NAMES[pg_type.name]
    if pg_type.kind == "scalar" and pg_type.schema not in ("pg_catalog", "information_schema"):
        return "enum"
    return "string"


def _datetime(value: Any) -> str:
    if isinstance(value, dt.datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"
    return str(value)


def _time(value: Any) -> str:
    if isinstance(value, dt.time):
        text = value.replace(tzinfo=None).strftime("%H:%M:%S.%f")[:-3]
        return text
    return str(value)


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind.endswith("-array"):
        element = kind.removesuffix("-array")
        return [_value(item, element) for item in value]
    if kind == "bigint":
        return str(value)
    if kind == "decimal":
        if isinstance(value, decimal.Decimal):
            text = str(value)
            return format(value, "f") if "E" in text else text
        return str(value)
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "datetime":
        return _datetime(value)
    if kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == "time":
        return _time(value)
    if kind in ("double", "float") and isinstance(value, float):
        return json_float(value)
    if kind in ("int", "double", "float", "bool"):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def result(names: Sequence[str], pg_types: Sequence[Any], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    kinds = [column_type(t) for t in pg_types]
    return {
        "columns": list(names),
        "types": kinds,
        "rows": [[_value(v, k) for v, k in zip(row, kinds, strict=True)] for row in rows],
    }
