"""Python values to JSON-protocol values and back: what the client sends and what it hands out.

Values go out tagged (datetime, Decimal, bytes, `Json(...)`) and come back as Python values; raw
queries' parameters are tagged the way Prisma tags them (`prisma__type`).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from typing import Any


class Json:
    """A value for a Json field (so a dict is not mistaken for a nested write or a filter)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def encode(value: Any) -> Any:
    """Python values → JSON-protocol values."""
    if isinstance(value, Json):
        return {"$type": "Json", "value": json.dumps(value.value)}
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return {"$type": "DateTime", "value": moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")}
    if isinstance(value, dt.date):
        return {"$type": "DateTime", "value": f"{value.isoformat()}T00:00:00.000Z"}
    if isinstance(value, decimal.Decimal):
        return {"$type": "Decimal", "value": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"$type": "Bytes", "value": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """JSON-protocol results → Python values (tagged values become datetime, int, Decimal, bytes, ...)."""
    if isinstance(value, dict):
        if len(value) == 2 and "$type" in value and "value" in value:
            tag, inner = value["$type"], value["value"]
            if tag == "DateTime":
                return dt.datetime.fromisoformat(inner.replace("Z", "+00:00"))
            if tag == "BigInt":
                return int(inner)
            if tag == "Decimal":
                return decimal.Decimal(inner)
            if tag == "Bytes":
                return base64.b64decode(inner)
            if tag == "Json":
                return json.loads(inner)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def raw_arguments(sql: str, parameters: tuple[Any, ...]) -> dict[str, Any]:
    """`queryRaw` / `executeRaw` arguments: the SQL and its `$n` values, tagged as Prisma tags them."""

    def tag(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return {"prisma__type": "date", "prisma__value": v.isoformat()}
        if isinstance(v, bytes):
            return {"prisma__type": "bytes", "prisma__value": base64.b64encode(v).decode()}
        if isinstance(v, decimal.Decimal):
            return {"prisma__type": "decimal", "prisma__value": str(v)}
        if isinstance(v, Json):
            return v.value
        return v

    return {"query": sql, "parameters": json.dumps([tag(p) for p in parameters])}
