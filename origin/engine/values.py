"""Scalar values across the JSON protocol: tagged input → Python value for a bind parameter, and
database value → JSON-protocol output (`{"$type": "DateTime", "value": …}` and friends)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
from typing import Any

from ..errors import QueryValidationError
from .schema import ScalarField


def _invalid(field: ScalarField, raw: Any, expected: str) -> QueryValidationError:
    return QueryValidationError(
        f"Invalid value for argument `{field.name}`: expected {expected}, got {json.dumps(raw)[:80]}.",
        meta={"argumentPath": field.name, "expected": expected},
    )


def _untag(raw: Any) -> tuple[str | None, Any]:
    if isinstance(raw, dict) and set(raw) == {"$type", "value"}:
        return str(raw["$type"]), raw["value"]
    return None, raw


def decode_input(field: ScalarField, raw: Any) -> Any:
    """A JSON-protocol input value for `field` as the Python value asyncpg binds."""
    if raw is None:
        return None
    if field.is_list:
        if not isinstance(raw, list):
            raise _invalid(field, raw, f"a list of {field.type}")
        single = ScalarField(**{**field.__dict__, "is_list": False})
        return [decode_input(single, item) for item in raw]
    tag, value = _untag(raw)
    kind = field.type
    try:
        if kind == "Int":
            if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
                raise _invalid(field, raw, "a 32-bit Int")
            return value
        if kind == "BigInt":
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise _invalid(field, raw, "a BigInt")
            number = int(value)
            if not -(2**63) <= number < 2**63:
                raise _invalid(field, raw, "a 64-bit BigInt")
            return number
        if kind == "Float":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise _invalid(field, raw, "a Float")
            return float(value)
        if kind == "Decimal":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise _invalid(field, raw, "a Decimal")
            return decimal.Decimal(str(value))
        if kind == "Boolean":
            if not isinstance(value, bool):
                raise _invalid(field, raw, "a Boolean")
            return value
        if kind == "DateTime":
            if not isinstance(value, str):
                raise _invalid(field, raw, "an ISO-8601 DateTime")
            return _parse_datetime(value, field)
        if kind == "Json":
            return value if tag == "Json" else json.dumps(value)
        if kind == "Bytes":
            if not isinstance(value, str):
                raise _invalid(field, raw, "base64 Bytes")
            return base64.b64decode(value, validate=True)
        if not isinstance(value, str):
            raise _invalid(field, raw, f"a {kind}")
        return value
    except (ValueError, decimal.InvalidOperation, binascii.Error):
        raise _invalid(field, raw, f"a {kind}") from None


def _parse_datetime(text: str, field: ScalarField) -> Any:
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    native = (field.native_type or "").lower()
    if native.startswith("timestamp without") or native == "timestamp":
        return parsed.astimezone(dt.UTC).replace(tzinfo=None)
    if native == "date":
        return parsed.date()
    return parsed


def encode_output(field: ScalarField, value: Any) -> Any:
    if value is None:
        return None
    if field.is_list:
        single = ScalarField(**{**field.__dict__, "is_list": False})
        return [encode_output(single, v) for v in value]
    kind = field.type
    if kind == "BigInt":
        return {"$type": "BigInt", "value": str(value)}
    if kind == "DateTime":
        return {"$type": "DateTime", "value": format_datetime(value)}
    if kind == "Decimal":
        return {"$type": "Decimal", "value": _decimal_text(value)}
    if kind == "Json":
        return {"$type": "Json", "value": value if isinstance(value, str) else json.dumps(value)}
    if kind == "Bytes":
        return {"$type": "Bytes", "value": base64.b64encode(bytes(value)).decode()}
    if kind == "Float":
        return float(value)
    return value


def format_datetime(value: Any) -> str:
    """Prisma's DateTime: UTC, millisecond precision, `Z`."""
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


def _decimal_text(value: Any) -> str:
    text = format(decimal.Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
