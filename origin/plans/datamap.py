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
from collections.abc import Callable, Mapping
from typing import Any

from ..pgtime import OutOfRange
from ..rawcodec.results import finite
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
    if type(value) is dt.datetime and value.tzinfo is None:
        return value.isoformat(timespec="milliseconds") + "Z"
    return to_datetime(value).isoformat(timespec="milliseconds") + "Z"


def to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
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
        # Decimal.js prints without trailing zeros or an exponent: 10.50 → "10.5", 1E+1 → "10"
        # (by hand: normalize() would round to the context's 28 digits).
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    return str(value)


Convert = Callable[[Any], Any]


def _int(value: Any) -> Any:
    if type(value) is int:
        return value
    if isinstance(value, str):
        return int(decimal.Decimal(value))
    return int(value)


def _string(value: Any) -> Any:
    if type(value) is str:
        return value
    if isinstance(value, dict | list):
        return dumps_json(value)
    return str(value)


def _float(value: Any) -> Any:
    # NaN and the infinities are not JSON numbers: null, as Prisma's executor sends them.
    return finite(float(value))


def _boolean(value: Any) -> Any:
    return bool(value) if not isinstance(value, str) else value.lower() in ("true", "t", "1")


def _bigint(value: Any) -> Any:
    return {"$type": "BigInt", "value": value if isinstance(value, str) else str(int(value))}


def _decimal(value: Any) -> Any:
    return {"$type": "Decimal", "value": _decimal_text(value)}


def _datetime(value: Any) -> Any:
    if isinstance(value, OutOfRange):
        text = str(value)
        if text.startswith("24:00:00"):
            # A time of day of 24:00 (timetz: with its offset) is the next day's midnight.
            zone = text[8:]
            moment = dt.datetime(1970, 1, 2)
            if zone:
                moment -= dt.timedelta(hours=int(zone[:3]), minutes=int(zone[0] + (zone[4:6] or "0")))
            return {"$type": "DateTime", "value": moment.isoformat(timespec="milliseconds") + "Z"}
        # infinity, year 10000, BC: Postgres's text (Prisma's own executor fails on these)
        return {"$type": "DateTime", "value": text}
    return {"$type": "DateTime", "value": iso_datetime(value)}


def _json(value: Any) -> Any:
    # Re-serialised compactly, as Prisma's executor does (Postgres prints jsonb with spaces).
    document = json.loads(value) if isinstance(value, str) else value
    return {"$type": "Json", "value": dumps_json(document)}


def _bytes(value: Any) -> Any:
    return {"$type": "Bytes", "value": _bytes_b64(value)}


def _passthrough(value: Any) -> Any:
    # object (composite types) and unsupported types pass through as JSON.
    return value if isinstance(value, str | int | float | bool | list | dict) else str(value)


_SCALARS: dict[str, Convert] = {
    "int": _int,
    "string": _string,
    "boolean": _boolean,
    "float": _float,
    "bigint": _bigint,
    "decimal": _decimal,
    "datetime": _datetime,
    "json": _json,
    # Json read through a relation join: already a JSON value, not text.
    "object": lambda value: {"$type": "Json", "value": dumps_json(value)},
    "bytes": _bytes,
}


def scalar_converter(field_type: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Convert:
    """A function from one database value (not null) to its JSON-protocol form for a Prisma type."""
    kind = str(field_type.get("type"))
    if kind == "enum":
        names = enums.get(str(field_type.get("name")), {})
        return lambda value: names.get(value, value) if isinstance(value, str) else value
    return _SCALARS.get(kind, _passthrough)


def field_converter(field_type: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Convert:
    """A function from a column value (maybe null, maybe a list) to its JSON-protocol form."""
    convert = scalar_converter(field_type, enums)
    if field_type.get("arity") != "list":
        return lambda value: None if value is None else convert(value)

    def convert_list(value: Any) -> Any:
        if value is None:
            return []  # a NULL array column reads as an empty list, as Prisma's own executor answers
        if isinstance(value, str):
            if not value.startswith("["):
                raise PlanError("A list column came back as a Postgres array literal; expected an array.")
            value = parse_json(value)
        return [None if item is None else convert(item) for item in value]

    return convert_list


def map_scalar(value: Any, field_type: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    """One database value → its JSON-protocol form for a Prisma field type (not a list)."""
    return None if value is None else scalar_converter(field_type, enums)(value)


def map_field(value: Any, field_type: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    return field_converter(field_type, enums)(value)


def compile_structure(structure: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Convert:
    """The mapping of a `dataMap` structure, built once and applied to every row."""
    kind = structure.get("type")
    if kind == "affectedRows":
        return _affected_rows
    if kind == "field":
        return field_converter(structure.get("fieldType") or {}, enums)
    if kind == "object":
        return _objects(_object(structure, enums), skip_nulls=bool(structure.get("skipNulls")))
    raise PlanError(f"Unknown result structure `{kind}`.")


def _affected_rows(data: Any) -> Any:
    if isinstance(data, int) and not isinstance(data, bool):
        return {"count": data}
    if isinstance(data, list):
        return {"count": len(data)}
    raise PlanError("An affectedRows result needs a row count.")


def _objects(map_one: Convert, *, skip_nulls: bool = False) -> Convert:
    """Records (a list, one, or JSON text of them); `skip_nulls` drops null records from a list (the
    plan's `skipNulls`: rows of a join whose related record does not exist)."""

    def map_many(data: Any) -> Any:
        if data is None:
            return None
        if isinstance(data, str):
            data = parse_json(data)
        if isinstance(data, list):
            return [map_one(row) for row in data if row is not None or not skip_nulls]
        return map_one(data)

    return map_many


_FIELD, _NESTED, _GROUP = 0, 1, 2


def _object(structure: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Convert:
    steps: list[tuple[str, int, Any, Convert]] = []
    for name, node in (structure.get("fields") or {}).items():
        kind = node.get("type")
        if kind == "field":
            steps.append(
                (name, _FIELD, node.get("dbName", name), field_converter(node.get("fieldType") or {}, enums))
            )
        elif kind == "object":
            source = node.get("serializedName")
            if source is None:
                # A group of fields kept at this level of the row (e.g. `_count$_all` of an aggregate).
                steps.append((name, _GROUP, None, _object(node, enums)))
            else:
                nested = _objects(_object(node, enums), skip_nulls=bool(node.get("skipNulls")))
                steps.append((name, _NESTED, source, nested))
        elif kind == "affectedRows":
            steps.append((name, _GROUP, None, _affected_rows))
        else:
            raise PlanError(f"Unknown result structure `{kind}`.")

    def map_one(row: Any) -> Any:
        if not isinstance(row, dict):
            # A scalar where an object was expected: e.g. a single-column aggregate value.
            return row
        out: dict[str, Any] = {}
        for name, kind, key, convert in steps:
            if kind == _GROUP:
                value = convert(row)
            elif key in row:
                value = convert(row[key])
            else:
                continue
            out[name] = value
        return out

    return map_one


def apply(data: Any, structure: Mapping[str, Any], enums: Mapping[str, Mapping[str, str]]) -> Any:
    """The `dataMap` of `data` (a record, a list of records, an affected-row count or null)."""
    return compile_structure(structure, enums)(data)
