"""Plan values → the Python objects asyncpg binds, decided by the type Postgres inferred for each
placeholder (asyncpg encodes parameters in binary, so a timestamp needs a `datetime`, not a string).

Plan values arrive as JSON (ISO strings for DateTime, strings for BigInt and Decimal, stringified Json,
base64 Bytes) or as Python values read from an earlier query of the same plan; both are accepted.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import ipaddress
import json
import uuid
from collections.abc import Callable
from typing import Any

from bwcontract.codes import Code

from ..errors import KnownRequestError
from .errors import PlanError

UTC = dt.UTC


def parse_datetime(value: str) -> dt.datetime:
    """An ISO-8601 timestamp as an aware datetime (naive input is taken as UTC)."""
    text = value.strip()
    if "T" not in text and " " not in text and len(text) == 10:
        text += "T00:00:00"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, UTC)
    return parse_datetime(str(value))


def _timestamp(value: Any) -> dt.datetime:
    return _as_datetime(value).astimezone(UTC).replace(tzinfo=None)


def _timestamptz(value: Any) -> dt.datetime:
    return _as_datetime(value)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return _as_datetime(value).astimezone(UTC).date()


def _time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    if isinstance(value, str) and "T" not in value and ":" in value and "-" not in value[:3]:
        return dt.time.fromisoformat(value.removesuffix("Z"))
    return _as_datetime(value).astimezone(UTC).time()


def _timetz(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moment = _as_datetime(value)
    return moment.timetz()


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | decimal.Decimal):
        if value != int(value):
            raise ValueError(f"{value} is not a whole number")
        return int(value)
    return int(str(value))


def _float(value: Any) -> float:
    return float(value) if not isinstance(value, str) else float(value.strip())


def _numeric(value: Any) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    return decimal.Decimal(str(value).strip())


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "t", "1", "yes", "on"):
            return True
        if lowered in ("false", "f", "0", "no", "off"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if isinstance(value, int):
        return value != 0
    raise ValueError(f"{value!r} is not a boolean")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _json(value: Any) -> str:
    # Prisma sends Json values already stringified; anything else is a JSON value to serialize.
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _bytea(value: Any, scalar_type: str) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list):
        return bytes(value)
    text = str(value)
    if scalar_type == "bytes":
        if text.startswith("\\x"):
            return bytes.fromhex(text[2:])
        return base64.b64decode(text, validate=True)
    return text.encode()


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _inet(value: Any) -> Any:
    return ipaddress.ip_interface(str(value))


def _cidr(value: Any) -> Any:
    return ipaddress.ip_network(str(value), strict=False)


def _interval(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    return dt.timedelta(seconds=float(value))


_BY_PG_TYPE: dict[str, Callable[[Any], Any]] = {
    "int2": _int,
    "int4": _int,
    "int8": _int,
    "oid": _int,
    "float4": _float,
    "float8": _float,
    "numeric": _numeric,
    "money": _text,
    "bool": _bool,
    "text": _text,
    "varchar": _text,
    "bpchar": _text,
    "char": _text,
    "name": _text,
    "xml": _text,
    "json": _json,
    "jsonb": _json,
    "timestamp": _timestamp,
    "timestamptz": _timestamptz,
    "date": _date,
    "time": _time,
    "timetz": _timetz,
    "uuid": _uuid,
    "inet": _inet,
    "cidr": _cidr,
    "interval": _interval,
}


def element_type_name(array_type_name: str) -> str:
    """`int4[]` (asyncpg's spelling) or `_int4` (the catalog's) → `int4`."""
    return array_type_name.removesuffix("[]").removeprefix("_")


def bind_value(value: Any, pg_type: Any, scalar_type: str) -> Any:
    """`value` as asyncpg must see it for a parameter of Postgres type `pg_type` (an asyncpg `Type`)."""
    if value is None:
        return None
    try:
        if pg_type.kind == "array":
            if not isinstance(value, list | tuple):
                if isinstance(value, str) and value.startswith("["):
                    value = json.loads(value)
                else:
                    raise ValueError("expected a list")
            element = element_type_name(pg_type.name)
            return [_bind_scalar(item, element, scalar_type) for item in value]
        return _bind_scalar(value, pg_type.name, scalar_type)
    except (ValueError, TypeError, ArithmeticError, binascii.Error) as exc:
        raise PlanError(
            f"Cannot bind {_describe(value)} to a parameter of type `{pg_type.name}`: {exc}.",
            meta={"postgresType": pg_type.name},
        ) from None


_INT_RANGES = {"int2": ("smallint", 2**15), "int4": ("integer", 2**31), "int8": ("bigint", 2**63)}


def out_of_range(value: Any, type_name: str) -> KnownRequestError | None:
    """Postgres's 22003 for an integer its column type cannot hold (asyncpg would refuse to send it)."""
    found = _INT_RANGES.get(type_name)
    if found is None or not isinstance(value, int) or isinstance(value, bool):
        return None
    name, limit = found
    if -limit <= value < limit:
        return None
    message = f'value "{value}" is out of range for type {name}'
    return KnownRequestError(
        f"Value out of range for the type: {message}", code=Code.VALUE_OUT_OF_RANGE, meta={"message": message}
    )


def _bind_scalar(value: Any, type_name: str, scalar_type: str) -> Any:
    if value is None:
        return None
    if type_name in _INT_RANGES:
        number = _int(value)
        error = out_of_range(number, type_name)
        if error is not None:
            raise error
        return number
    if type_name == "bytea":
        return _bytea(value, scalar_type)
    convert = _BY_PG_TYPE.get(type_name)
    if convert is None:
        # Enums, domains over text and types asyncpg has no binary codec for travel as text.
        return _text(value)
    return convert(value)


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
