"""Raw results as Prisma's executor sends them: each column's Prisma type name (`column`, refusing
the built-in types Prisma cannot read) and each value in the form it takes (`cell`), down to
Postgres's own text of a value asyncpg decoded (`pg_text`)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import ipaddress
import json
import math
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..pgtime import OutOfRange

UTC = dt.UTC
_FIRST_USER_OID = 16384  # types the database defines itself (enums, domains, extensions) start here


class UnsupportedColumn(Exception):
    """A result column of a built-in type Prisma cannot read (interval, point, "char", …)."""

    def __init__(self, column: str, type_name: str) -> None:
        # Prisma's driver adapter's words.
        super().__init__(
            f"Failed to deserialize column of type '{type_name}'. If you're using $queryRaw and this column "
            "is explicitly marked as `Unsupported` in your Prisma schema, try casting this column to any "
            "supported Prisma type such as `String`."
        )
        self.column = column
        self.type_name = type_name


# --- column types ---------------------------------------------------------------------------------

_SCALARS: dict[str, str] = {
    "int2": "int",
    "int4": "int",
    "int8": "bigint",
    "oid": "bigint",
    "float4": "float",
    "float8": "double",
    "numeric": "decimal",
    "money": "decimal",
    "bool": "bool",
    "date": "date",
    "time": "time",
    "timetz": "time",
    "timestamp": "datetime",
    "timestamptz": "datetime",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
    "bytea": "bytes",
    "text": "string",
    "varchar": "string",
    "bpchar": "string",
    "name": "string",
    "xml": "string",
    "bit": "string",
    "varbit": "string",
    "inet": "string",
    "cidr": "string",
}
# Arrays Prisma reads (name[] and timetz[], for instance, it does not).
_ARRAYS: dict[str, str] = {
    "int2": "int-array",
    "int4": "int-array",
    "int8": "bigint-array",
    "oid": "bigint-array",
    "float4": "float-array",
    "float8": "double-array",
    "numeric": "decimal-array",
    "money": "decimal-array",
    "bool": "bool-array",
    "char": "char-array",
    "date": "date-array",
    "time": "time-array",
    "timestamp": "datetime-array",
    "timestamptz": "datetime-array",
    "json": "json-array",
    "jsonb": "json-array",
    "uuid": "uuid-array",
    "bytea": "bytes-array",
    "text": "string-array",
    "varchar": "string-array",
    "bpchar": "string-array",
    "xml": "string-array",
    "bit": "string-array",
    "varbit": "string-array",
    "inet": "string-array",
    "cidr": "string-array",
}


@dataclass(frozen=True, slots=True)
class Column:
    """How one result column is written: its Prisma type name and what the value is read as."""

    type: str  # the name in `types`
    read: str  # the Postgres element type whose rules apply, or "user" / "char-array"
    array: bool = False


def column(name: str, pg_type: Any) -> Column:
    """The column of Postgres type `pg_type` (an asyncpg `Type`); raises `UnsupportedColumn`."""
    if pg_type.oid >= _FIRST_USER_OID:
        return Column("string", "user", pg_type.kind == "array")
    if pg_type.kind == "array":
        element = pg_type.name.removesuffix("[]").removeprefix("_")
        kind = _ARRAYS.get(element)
        if kind is None:
            raise UnsupportedColumn(name, pg_type.name)
        return Column(kind, "char-array" if element == "char" else element, True)
    kind = _SCALARS.get(pg_type.name)
    if kind is None:
        raise UnsupportedColumn(name, pg_type.name)
    return Column(kind, pg_type.name)


# --- values ---------------------------------------------------------------------------------------


def float4_value(value: float) -> float:
    """A float4 at its shortest decimal form, as Postgres prints it (0.1, not 0.10000000149011612)."""
    if not math.isfinite(value):
        return value
    for digits in range(1, 10):
        shorter = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", shorter))[0] == value:
            return shorter
    return value


def numeric_text(value: Any) -> str:
    """Postgres's text for a numeric: its scale kept, no exponent (1E+2 → 100, 100.00 → 100.00)."""
    number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    if not number.is_finite():
        return "NaN" if number.is_nan() else ("-Infinity" if number.is_signed() else "Infinity")
    text = format(number, "f")
    return text[1:] if text.startswith("-") and number.is_zero() else text


def _fraction(microsecond: int) -> str:
    return f".{microsecond:06d}".rstrip("0") if microsecond else ""


def time_text(value: dt.time) -> str:
    """Postgres's text for a time of day, without its offset (a timetz is not moved to UTC)."""
    return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}"


def date_text(value: dt.date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def datetime_text(value: dt.datetime) -> str:
    """A timestamp as Prisma's executor sends it: UTC, Postgres's fraction, `+00:00`."""
    moment = value.astimezone(UTC) if value.tzinfo is not None else value
    return f"{date_text(moment)}T{time_text(moment.time())}+00:00"


_ZONE = re.compile(r"[+-]\d{2}(:\d{2})?$")


def out_of_range_text(value: OutOfRange, read: str) -> str:
    """A date, time or timestamp Python cannot hold, as Prisma's pg driver adapter sends it."""
    text = str(value)
    if read in ("time", "timetz"):
        return _ZONE.sub("", text) if read == "timetz" else text
    if read == "timestamp":
        return text.replace(" ", "T", 1) + "+00:00"
    if read == "timestamptz":
        return _ZONE.sub("+00:00", text.replace(" ", "T", 1))
    return text


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _scalar(value: Any, read: str) -> Any:
    if value is None:
        return None
    if read in ("int2", "int4", "bool", "uuid"):
        return str(value) if read == "uuid" else value
    if read in ("int8", "oid"):
        return str(value)
    if read == "float4":
        return finite(float4_value(value))
    if read == "float8":
        return finite(value)
    if read == "numeric":
        return numeric_text(value)
    if read == "money":
        # Postgres prints money with its currency sign ("$12.50"); Prisma drops the first character.
        return str(value)[1:]
    if isinstance(value, OutOfRange):  # infinity, year 10000, BC, 24:00: Postgres's text, as the driver has
        return out_of_range_text(value, read)
    if read == "date":
        return date_text(value)
    if read in ("time", "timetz"):
        return time_text(value)
    if read in ("timestamp", "timestamptz"):
        return datetime_text(value)
    if read in ("json", "jsonb"):
        return json.loads(value) if isinstance(value, str) else value
    if read == "bytea":
        return base64.b64encode(bytes(value)).decode()
    return pg_text(value)


def pg_text(value: Any) -> str:
    """Postgres's text output for a value asyncpg decoded (the `string` columns)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            repr(value)
            if math.isfinite(value)
            else {"inf": "Infinity", "-inf": "-Infinity"}.get(str(value), "NaN")
        )
    if isinstance(value, decimal.Decimal):
        return numeric_text(value)
    if isinstance(value, dt.datetime):
        moment = value.astimezone(UTC) if value.tzinfo is not None else value
        suffix = "+00" if value.tzinfo is not None else ""
        return f"{date_text(moment)} {time_text(moment.time())}{suffix}"
    if isinstance(value, dt.date):
        return date_text(value)
    if isinstance(value, dt.time):
        return time_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple) and not isinstance(value, asyncpg.Record):
        return array_text([None if v is None else pg_text(v) for v in value])
    if isinstance(value, asyncpg.Record | tuple):
        return "(" + ",".join("" if v is None else _quoted(pg_text(v), composite=True) for v in value) + ")"
    if isinstance(value, asyncpg.BitString):
        return str(value.as_string())
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        full = value.network.prefixlen == value.max_prefixlen
        return str(value.ip) if full else str(value)
    return str(value)


def _quoted(text: str, *, composite: bool = False) -> str:
    special = '{},"\\' if not composite else '(),"\\'
    if (
        text == ""
        or any(c in special or c.isspace() for c in text)
        or (not composite and text.upper() == "NULL")
    ):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def array_text(items: Sequence[str | None]) -> str:
    """Postgres's text for a one-dimensional array of element texts ({a,"b c",NULL})."""
    return "{" + ",".join("NULL" if item is None else _quoted(item) for item in items) + "}"


def cell(value: Any, col: Column) -> Any:
    if value is None:
        return None
    if col.read == "user":
        return pg_text(value)
    if col.read == "char-array":
        # Prisma hands a "char"[] over as Postgres's text of the array.
        return array_text([None if v is None else bytes(v).decode("latin-1") for v in value])
    if col.array:
        return [_element(v, col.read) for v in value]
    return _scalar(value, col.read)


def _element(value: Any, read: str) -> Any:
    if isinstance(value, list):
        return [_element(v, read) for v in value]
    return _scalar(value, read)


def columns_of(names: Sequence[str], pg_types: Sequence[Any]) -> list[Column]:
    """The columns of a result (raises `UnsupportedColumn` for the first one Prisma cannot read)."""
    return [column(name, pg_type) for name, pg_type in zip(names, pg_types, strict=True)]


def result(names: Sequence[str], cols: Sequence[Column], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    return {
        "columns": list(names),
        "types": [c.type for c in cols],
        "rows": [[cell(v, c) for v, c in zip(row, cols, strict=True)] for row in rows],
    }


# --- parameters -----------------------------------------------------------------------------------
