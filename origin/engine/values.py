"""JSON-protocol input values → the Python values asyncpg binds, validated against a field's type.

`converter(field, ...)` returns a function; compiled queries keep it, so a cached shape validates and
converts each new value exactly as the first one was. Tagged inputs (`{"$type": "DateTime", "value": …}`)
reach a converter with the tag split off: the tag is part of the query's shape.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
from collections.abc import Callable
from typing import Any

from ..errors import QueryValidationError
from .schema import Enum, ScalarField

Convert = Callable[[Any], Any]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def invalid(path: str, raw: Any, expected: str) -> QueryValidationError:
    shown = json.dumps(raw, default=str)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return QueryValidationError(
        f"Invalid value for argument `{path}`: expected {expected}, got {shown}.",
        meta={"argumentPath": path, "expected": expected},
    )


def converter(
    field: ScalarField, enum: Enum | None, tag: str | None, path: str, *, element: bool = False
) -> Convert:
    """How to turn a value given for `field` at `path` into a bind parameter.

    `element` asks for one item of a list field (for `has`, `push`); otherwise a list field takes a list.
    """
    if field.is_list and not element:
        single = _scalar(field, enum, tag, path)
        # A Json item tagged {"$type": "Json", "value": text} is JSON text already.
        json_text = _scalar(field, enum, "Json", path) if field.type == "Json" else single

        def convert_list(value: Any) -> Any:
            if value is None:
                return None
            if not isinstance(value, list):
                raise invalid(path, value, f"a list of {field.type}")
            return [json_text(untag(v)) if _tag_of(v) == "Json" else single(untag(v)) for v in value]

        return convert_list
    return _scalar(field, enum, tag, path)


def _tag_of(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 2 and "$type" in value and "value" in value:
        return str(value["$type"])
    return ""


def untag(value: Any) -> Any:
    """A list item as the client sends it (`{"$type": "DateTime", "value": …}`) → its value."""
    if isinstance(value, dict) and len(value) == 2 and "$type" in value and "value" in value:
        return value["value"]
    return value


def _scalar(field: ScalarField, enum: Enum | None, tag: str | None, path: str) -> Convert:
    kind = field.type
    native = (field.native_type or "").lower()
    if enum is not None:
        mapping = {v.name: v.db_name for v in enum.values}

        def convert_enum(value: Any) -> Any:
            if value is None:
                return None
            found = mapping.get(value) if isinstance(value, str) else None
            if found is None:
                raise invalid(path, value, f"one of {', '.join(mapping)} (enum {enum.name})")
            return found

        return convert_enum
    maker = _MAKERS.get(kind)
    if maker is None:
        raise QueryValidationError(f"The type {kind} of `{path}` cannot be used here.")
    return maker(path, native, tag)


def _int(path: str, native: str, tag: str | None) -> Convert:
    low, high = _INT32

    def convert(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid(path, value, "a 32-bit Int")
        return value  # a column's own narrower limit (smallint) is for the database to enforce

    return convert


def _bigint(path: str, native: str, tag: str | None) -> Convert:
    low, high = _INT64

    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise invalid(path, value, "a BigInt")
        try:
            number = int(value)
        except ValueError:
            raise invalid(path, value, "a BigInt") from None
        if not low <= number <= high:
            raise invalid(path, value, "a 64-bit BigInt")
        return number

    return convert


def _float(path: str, native: str, tag: str | None) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise invalid(path, value, "a Float")
        try:
            return float(value)
        except ValueError:
            raise invalid(path, value, "a Float") from None

    return convert


def _decimal(path: str, native: str, tag: str | None) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise invalid(path, value, "a Decimal")
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise invalid(path, value, "a Decimal") from None
        if not number.is_finite() and not math.isnan(number):
            raise invalid(path, value, "a finite Decimal")
        return number

    return convert


def _string(path: str, native: str, tag: str | None) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid(path, value, "a String")
        if "\x00" in value:
            raise invalid(path, value, "a String without NUL characters")
        return value

    return convert


def _boolean(path: str, native: str, tag: str | None) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, bool):
            raise invalid(path, value, "a Boolean")
        return value

    return convert


def _datetime(path: str, native: str, tag: str | None) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise invalid(path, value, "an ISO-8601 DateTime") from None
        else:
            raise invalid(path, value, "an ISO-8601 DateTime")
        return datetime_param(parsed, native)

    return convert


def datetime_param(parsed: dt.datetime, native: str) -> Any:
    """A moment as the Python value the column type binds: naive UTC for `timestamp`, a date, ..."""
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if native.startswith("timestamptz"):
        return parsed
    utc = parsed.astimezone(dt.UTC)
    if native.startswith("timestamp") or not native:
        return utc.replace(tzinfo=None)
    if native == "date":
        return utc.date()
    if native.startswith("timetz"):
        return utc.timetz()
    if native.startswith("time"):
        return utc.time()
    return utc.replace(tzinfo=None)


def _plain(value: Any) -> Any:
    """A Json value given as an object may hold tagged values (a Prisma.DbNull, a Date): inside
    JSON they are their plain values, as Prisma's engine writes them."""
    if isinstance(value, dict):
        if len(value) == 2 and "$type" in value and "value" in value:
            return _plain(value["value"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json(path: str, native: str, tag: str | None) -> Convert:
    def convert(value: Any) -> Any:
        if tag == "Json":
            # Already serialized by the client; check it is JSON so the error names the argument.
            if not isinstance(value, str):
                raise invalid(path, value, "JSON text")
            try:
                json.loads(value)
            except ValueError:
                raise invalid(path, value, "valid JSON") from None
            return value
        return json.dumps(_plain(value), separators=(",", ":"))

    return convert


def _bytes(path: str, native: str, tag: str | None) -> Convert:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid(path, value, "base64 Bytes")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(path, value, "base64 Bytes") from None

    return convert


_MAKERS: dict[str, Callable[[str, str, str | None], Convert]] = {
    "Int": _int,
    "BigInt": _bigint,
    "Float": _float,
    "Decimal": _decimal,
    "String": _string,
    "Boolean": _boolean,
    "DateTime": _datetime,
    "Json": _json,
    "Bytes": _bytes,
}


def count(path: str, *, allow_negative: bool = False) -> Convert:
    """`take` / `skip`: a non-negative integer (take's sign is part of the shape)."""

    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and not allow_negative):
            raise invalid(path, value, "a non-negative integer")
        return abs(value)

    return convert


def like_pattern(kind: str, path: str) -> Convert:
    """contains / startsWith / endsWith → a LIKE pattern. The value's own `%`, `_` and `\\` keep
    their LIKE meaning, as in Prisma's engine (a client escapes them with a backslash)."""

    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid(path, value, "a String")
        if kind == "contains":
            return f"%{value}%"
        if kind == "startsWith":
            return f"{value}%"
        return f"%{value}"

    return convert


def json_path(path: str) -> Convert:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(p, str | int) for p in value):
            raise invalid(path, value, "a list of keys")
        return [str(p) for p in value]

    return convert
