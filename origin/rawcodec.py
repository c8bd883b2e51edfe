"""Raw queries' values, for both Prisma fronts: one codec, checked against Prisma's own executor.

Parameters: Prisma's driver sends every raw parameter as text and lets Postgres parse it for the
type it inferred for the placeholder (`SELECT $1` receives a date as `2020-01-01 00:00:00`, a
`$1::date` placeholder the date). `driver_text` is that text; `bind` turns the texts into the values
asyncpg binds, letting Postgres parse whatever is not plain text (so a value that does not fit
fails with the same SQLSTATE as in Prisma).

Results: `{"columns", "types", "rows"}` with Prisma's column type names (int, bigint, float,
double, decimal, string, bool, char-array, date, time, datetime, json, bytes, uuid, `<type>-array`)
and each value as Prisma's executor sends it: Postgres's own text for decimals, times and dates,
timestamps as `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, float4 at its shortest, JSON parsed, bytes in
base64, non-finite floats as null. Types of the database's own (enums, domains' arrays, extensions)
come back as `string` holding their text. Other built-in types (interval, point, "char", …) are
refused before the query runs, as Prisma cannot read them either.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import decimal
import ipaddress
import json
import math
import re
import struct
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bwcontract.codes import Code

from .errors import KnownRequestError
from .pgtime import OutOfRange

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


@dataclass(frozen=True, slots=True)
class Param:
    """One raw parameter: its JSON value and the scalar type the client gave it (datetime, bytes,
    bigint, decimal, string, unknown, …); `is_list` for a list of such values."""

    value: Any
    scalar_type: str = "unknown"
    is_list: bool = False


def js_number_text(value: float | int) -> str:
    """A number as JavaScript's String() prints it (what Prisma's driver sends)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value) if abs(value) >= 2**53 else value
        if isinstance(value, int):
            return str(value)
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    digits_tuple = decimal.Decimal(repr(abs(number))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = int(digits_tuple.exponent)  # value = digits * 10**exponent
    n = len(digits) + exponent  # the position of the decimal point
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def _js_json(value: Any) -> str:
    if isinstance(value, float):
        return js_number_text(value) if math.isfinite(value) else "null"
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_js_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_js_json(v)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(str(value), ensure_ascii=False)


def _datetime_param(value: Any) -> str:
    """A DateTime parameter as Prisma's driver formats it: `YYYY-MM-DD HH:MM:SS[.mmm]`, UTC."""
    text = str(value).strip().replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return str(value)  # not a date after all: Postgres says what it makes of it
    moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    millis = moment.microsecond // 1000
    return f"{date_text(moment)} {moment:%H:%M:%S}" + (f".{millis:03d}" if millis else "")


def driver_text(value: Any, scalar_type: str) -> str | None:
    """The text Prisma's driver sends for one (non-list) parameter value."""
    if value is None:
        return None
    if scalar_type == "datetime" and isinstance(value, str):
        return _datetime_param(value)
    if scalar_type == "bytes" and isinstance(value, str):
        return "\\x" + base64.b64decode(value).hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_text(value)
    if isinstance(value, str):
        return value
    return _js_json(value)


def _list_text(items: Sequence[Any], scalar_type: str) -> str:
    texts: list[str | None] = []
    for item in items:
        if isinstance(item, list):
            texts.append(_list_text(item, scalar_type))
        else:
            texts.append(driver_text(item, scalar_type))
    # Every element quoted, as the driver writes arrays (nested arrays stay bare).
    out = []
    for item, text in zip(items, texts, strict=True):
        if text is None:
            out.append("NULL")
        elif isinstance(item, list):
            out.append(text)
        else:
            out.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


def param_text(param: Param) -> str | bytes | None:
    """What the driver sends for `param`: its text, or for Bytes the bytes themselves (they go in
    binary: a text placeholder reads them as UTF-8)."""
    if param.value is None:
        return None
    if param.is_list or isinstance(param.value, list):
        if not isinstance(param.value, list):
            return driver_text(param.value, param.scalar_type)
        return _list_text(param.value, param.scalar_type)
    if param.scalar_type == "bytes" and isinstance(param.value, str):
        return base64.b64decode(param.value)
    return driver_text(param.value, param.scalar_type)


# Placeholder types whose value is the text itself (asyncpg sends these as text).
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "xml", "json", "jsonb", "unknown"})


def _type_sql(pg_type: Any) -> str:
    name = str(pg_type.name).removesuffix("[]")
    quoted = '"' + str(pg_type.schema).replace('"', '""') + '"."' + name.replace('"', '""') + '"'
    return quoted + ("[]" if str(pg_type.name).endswith("[]") else "")


async def bind(conn: asyncpg.Connection, params: Sequence[Param], pg_types: Sequence[Any]) -> list[Any]:
    """The values to bind for `params` at placeholders of `pg_types`: the driver's text, parsed by
    Postgres for every placeholder that is not text (one extra statement when there is any)."""
    texts: list[str | None] = []
    values: list[Any] = []
    for number, (param, pg_type) in enumerate(zip(params, pg_types, strict=True), start=1):
        try:
            sent = param_text(param)
        except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
            # Not base64, a number past Python's int-to-text limit, …: the caller's value.
            raise failed(f"parameter ${number} cannot be sent: {exc}") from None
        if isinstance(sent, bytes):
            if pg_type.name == "bytea":
                values.append(sent)
                texts.append(None)
                continue
            raw = sent
            try:
                sent = raw.decode()
            except UnicodeDecodeError:
                raise failed(
                    f'invalid byte sequence for encoding "UTF8": 0x{raw.hex()[:8]}', "22021"
                ) from None
        texts.append(sent)
        values.append(sent)
    casts: list[tuple[int, str]] = []
    for index, (text, pg_type) in enumerate(zip(texts, pg_types, strict=True)):
        if text is None or (
            pg_type.kind == "scalar" and pg_type.schema == "pg_catalog" and pg_type.name in _TEXT_TYPES
        ):
            continue
        casts.append((index, _type_sql(pg_type)))
    if casts:
        select = ", ".join(
            f"CAST(CAST(${n + 1} AS pg_catalog.text) AS {sql})" for n, (_, sql) in enumerate(casts)
        )
        row = await conn.fetchrow(f"SELECT {select}", *(texts[i] for i, _ in casts))
        assert row is not None
        for n, (index, _) in enumerate(casts):
            values[index] = row[n]
    return values


# --- what a raw statement touched -----------------------------------------------------------------

# The relation locks this backend's transaction holds: every table a statement read or wrote,
# through views, triggers and functions included. Catalog names are qualified (tenants own `public`).
TOUCHED_SQL = """
SELECT n.nspname, c.relname, l.mode
FROM pg_catalog.pg_locks AS l
JOIN pg_catalog.pg_class AS c ON c.oid = l.relation
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.pid = pg_catalog.pg_backend_pid()
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
_WRITE_LOCKS = frozenset(
    {"RowExclusiveLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
)


async def touched(conn: asyncpg.Connection) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """The (schema, table)s the current transaction has read and written so far."""
    read: set[tuple[str, str]] = set()
    written: set[tuple[str, str]] = set()
    for schema, name, mode in await conn.fetch(TOUCHED_SQL):
        (written if mode in _WRITE_LOCKS else read).add((schema, name))
    return frozenset(read - written), frozenset(written)


# --- running one statement ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    value: Any  # the result ({columns, types, rows}) or the affected-row count
    read: frozenset[tuple[str, str]]
    written: frozenset[tuple[str, str]]
    # A column Prisma cannot read: the statement ran (and its transaction commits), then it fails.
    unreadable: UnsupportedColumn | None = None


def failed(message: str, code: str = "N/A") -> KnownRequestError:
    """A raw query's failure as Prisma reports it (P2010)."""
    return KnownRequestError(
        f"Raw query failed. Code: `{code}`. Message: `{message}`",
        code=Code.RAW_QUERY_FAILED,
        meta={"code": code, "message": message},
    )


@contextlib.asynccontextmanager
async def _in_transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction():
        yield


async def _run(
    conn: asyncpg.Connection, sql: str, params: Sequence[Param], fetch: bool, *, locks: bool
) -> Outcome:
    statement = await conn.prepare(sql)
    types = statement.get_parameters()
    if len(types) != len(params):
        raise failed(
            f"bind message supplies {len(params)} parameters, but prepared statement requires {len(types)}",
            "08P01",
        )
    names = [a.name for a in statement.get_attributes()]
    unreadable = None
    try:
        cols = columns_of(names, [a.type for a in statement.get_attributes()]) if fetch else []
    except UnsupportedColumn as exc:
        # Prisma's driver runs the statement and fails on reading its result: so does this.
        unreadable, cols = exc, []
    rows = await statement.fetch(*await bind(conn, params, types))
    read, written = await touched(conn) if locks else (frozenset(), frozenset())
    if unreadable is not None:
        return Outcome(None, read, written, unreadable)
    if fetch:
        return Outcome(result(names, cols, rows), read, written)
    tail = (statement.get_statusmsg() or "").rsplit(" ", 1)[-1]
    return Outcome(int(tail) if tail.isdigit() else 0, read, written)


async def run(conn: asyncpg.Connection, sql: str, params: Sequence[Param], *, fetch: bool) -> Outcome:
    """Run one raw statement: its result (`fetch`) or affected-row count, and the tables it touched.

    Outside a transaction it runs in one of its own, so its locks can be read before they are let go;
    statements Postgres refuses to run in a transaction (VACUUM, CREATE INDEX CONCURRENTLY, …, none
    of which changes a row) then run on their own, touching nothing worth reporting.
    """
    outside = not conn.is_in_transaction()
    try:
        async with _in_transaction(conn):
            done = await _run(conn, sql, params, fetch, locks=True)
    except asyncpg.ActiveSQLTransactionError:
        if not outside:
            raise
        done = await _run(conn, sql, params, fetch, locks=False)
    if done.unreadable is not None:
        raise failed(str(done.unreadable))
    return done
