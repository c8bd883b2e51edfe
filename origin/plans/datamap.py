"""`dataMap`: database rows → the result the client expects, in JSON-protocol tagged values.

The plan's `structure` names, for every output field, the column (`dbName`) and its Prisma type; nested
objects come either from rows the interpreter joined in memory (`join` nodes) or, with the
`relationJoins` preview feature, from JSON the query aggregated in SQL (a string column to parse).
Values from JSON arrive as JSON scalars (timestamps without a zone, bytea as `\\x…` hex, numbers for
BigInt and Decimal) and are normalised to the same output as values read from columns.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Mapping
from typing import Any

from .errors import PlanError

UTC = dt.UTC
_EPOCH = dt.date(1970, 1, 1)


def parse_json(text: str) -> Any:
    """JSON from the database, keeping decimals exact."""
    return json.loads(text, parse_float=decimal.Decimal)


def dumps_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and "E" not in str(value) else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def iso_datetime(value: Any) -> str:
    """A timestamp, date or time as Prisma prints DateTime: UTC, milliseconds, `Z`."""
    moment = to_datetime(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.time):
        moment = dt.datetime.combine(_EPOCH, value.replace(tzinfo=None))
        if value.tzinfo is not None:
            offset = value.utcoffset() or dt.timedelta()
            moment -= offset
        return moment
    text = str(value).strip()
    if len(text) >= 3 and text[2] == ":" and "T" not in text:
        return to_datetime(_parse_time(text))
    if len(text) == 10:
        text += "T00:00:00"
    if text.endswith(("+00", "-00")) or (len(text) > 3 and text[-3] in "+-" and text[-2:].isdigit()):
        text += ":00"
    parsed = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _parse_time(text: str) -> dt.time:
    if text[-3:-2] in ("+", "-") and text[-2:].isdigit():
        text += ":00"
    return dt.time.fromisoformat(text)


def _bytes_b64(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, str):
        if value.startswith("\\x"):
            return base64.b64encode(bytes.fromhex(value[2:])).decode()
        return value
    if isinstance(value, list):
        return base64.b64encode(bytes(value)).decode()
    raise PlanError(f"Cannot read {type(value).__name__} as Bytes.")


def _decimal_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        # Decimal.js prints without trailing zeros or an exponent: 10.50 → "10.5", 1E+1 → "10".
        text = format(value.normalize(), "f")
        return text if text != "-0" else "0"
    return str(value)


def map_scalar(value: Any, field_type: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    """One database value → its JSON-protocol form for a Prisma field type (not a list)."""
    if value is None:
        return None
    kind = field_type.get("type")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return int(decimal.Decimal(value))
        return int(value)
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, dict | list):
            return dumps_json(value)
        return str(value)
    if kind == "boolean":
        return bool(value) if not isinstance(value, str) else value.lower() in ("true", "t", "1")
    if kind == "float":
        return float(value)
    if kind == "bigint":
        return {"$type": "BigInt", "value": str(int(value) if not isinstance(value, str) else value)}
    if kind == "decimal":
        return {"$type": "Decimal", "value": _decimal_text(value)}
    if kind == "datetime":
        return {"$type": "DateTime", "value": iso_datetime(value)}
    if kind == "json":
        # Re-serialised compactly, as Prisma's executor does (Postgres prints jsonb with spaces).
        document = json.loads(value) if isinstance(value, str) else value
        return {"$type": "Json", "value": dumps_json(document)}
    if kind == "bytes":
        return {"$type": "Bytes", "value": _bytes_b64(value)}
    if kind == "enum":
        names = enums.get(str(field_type.get("name")), {})
        return names.get(value, value) if isinstance(value, str) else value
    # object (composite types) and unsupported types pass through as JSON.
    if isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def map_field(value: Any, field_type: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    if field_type.get("arity") == "list":
        if value is None:
            return []  # a NULL array column reads as an empty list, as Prisma's own executor answers
        if isinstance(value, str) and value.startswith("["):
            value = parse_json(value)
        if isinstance(value, str) and value.startswith("{"):
            raise PlanError("A list column came back as a Postgres array literal; expected an array.")
        return [map_scalar(item, field_type, enums) for item in value]
    return map_scalar(value, field_type, enums)


def apply(data: Any, structure: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    """The `dataMap` of `data` (a record, a list of records, an affected-row count or null)."""
    kind = structure.get("type")
    if kind == "affectedRows":
        if isinstance(data, int) and not isinstance(data, bool):
            return {"count": data}
        if isinstance(data, list):
            return {"count": len(data)}
        raise PlanError("An affectedRows result needs a row count.")
    if kind == "object":
        return _map_objects(data, structure, enums)
    if kind == "field":
        return map_field(data, structure.get("fieldType") or {}, enums)
    raise PlanError(f"Unknown result structure `{kind}`.")


def _map_objects(data: Any, structure: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    if data is None:
        return None
    if isinstance(data, str):
        data = parse_json(data)
    if isinstance(data, list):
        return [_map_object(row, structure, enums) for row in data]
    return _map_object(data, structure, enums)


def _map_object(row: Any, structure: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    if not isinstance(row, Mapping):
        # A scalar where an object was expected: e.g. a single-column aggregate value.
        return row
    out: dict[str, Any] = {}
    skip_nulls = bool(structure.get("skipNulls"))
    for name, node in (structure.get("fields") or {}).items():
        kind = node.get("type")
        if kind == "field":
            db_name = node.get("dbName", name)
            if db_name not in row:
                continue
            value = map_field(row[db_name], node.get("fieldType") or {}, enums)
        elif kind == "object":
            source = node.get("serializedName")
            if source is None:
                # A group of fields kept at this level of the row (e.g. `_count$_all` of an aggregate).
                value = _map_object(row, node, enums)
            elif source in row:
                value = _map_objects(row[source], node, enums)
            else:
                continue
        elif kind == "affectedRows":
            value = apply(row, node, enums)
        else:
            raise PlanError(f"Unknown result structure `{kind}`.")
        if value is None and skip_nulls:
            continue
        out[name] = value
    return out
