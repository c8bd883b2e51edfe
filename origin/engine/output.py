"""JSON-protocol values from Python values, for results the engine does not build in SQL.

Query results are rendered to JSON inside Postgres (`jsonsql.scalar_json`); change events are decoded
from the replication stream in Python. This is the Python twin of `scalar_json`: the same tags and
the same text for every type, so an event's record reads exactly like a query's row.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from typing import Any

from .schema import ScalarField


def encode_output(field: ScalarField, value: Any) -> Any:
    if value is None:
        return None
    if field.is_list:
        single = ScalarField(
            field.name, field.column, field.type, native_type=field.native_type, is_enum=field.is_enum
        )
        return [encode_output(single, v) for v in value]
    kind = field.type
    if field.is_enum:
        return str(value)
    if kind == "BigInt":
        return {"$type": "BigInt", "value": str(value)}
    if kind == "DateTime":
        return {"$type": "DateTime", "value": format_datetime(value)}
    if kind == "Decimal":
        return {"$type": "Decimal", "value": decimal_text(value)}
    if kind == "Json":
        return {"$type": "Json", "value": value if isinstance(value, str) else json.dumps(value)}
    if kind == "Bytes":
        return {"$type": "Bytes", "value": base64.b64encode(bytes(value)).decode()}
    if kind == "Float":
        return float(value)
    return value


def format_datetime(value: Any) -> str:
    """Prisma's DateTime: UTC, millisecond precision, `Z` (a time of day is put on 1970-01-01)."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    elif isinstance(value, dt.time):
        moment = dt.datetime.combine(dt.date(1970, 1, 1), value.replace(tzinfo=None), tzinfo=dt.UTC)
    else:
        raise TypeError(f"not a date/time: {value!r}")
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def decimal_text(value: Any) -> str:
    """As Postgres's `trim_scale(x)::text`: no trailing fractional zeros."""
    text = format(decimal.Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
