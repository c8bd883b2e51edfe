"""Raw parameters as Prisma's driver sends them: every value as text (`driver_text`, numbers as
JavaScript prints them), Bytes in binary; `bind` lets Postgres parse each text for its placeholder's
type, so a value that does not fit fails with the SQLSTATE Prisma reports (P2010, `failed`)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bwcontract.codes import Code

from ..errors import KnownRequestError
from .results import UTC, date_text


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


def failed(message: str, code: str = "N/A") -> KnownRequestError:
    """A raw query's failure as Prisma reports it (P2010)."""
    return KnownRequestError(
        f"Raw query failed. Code: `{code}`. Message: `{message}`",
        code=Code.RAW_QUERY_FAILED,
        meta={"code": code, "message": message},
    )
