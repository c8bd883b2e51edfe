"""Dates, times and timestamps as Postgres has them, past what Python's datetime can hold.

asyncpg decodes date / time / timetz / timestamp / timestamptz into Python objects, which stop at
years 1-9999 and at 23:59:59.999999: a value outside (year 10000, 4714 BC, `24:00`) fails the whole
query, and ±infinity becomes date.max / datetime.max, a real date. Tenant connections decode them
with these codecs instead (asyncpg's `tuple` format: days or microseconds since 2000-01-01): a value
Python can hold is the same object as before; any other is an `OutOfRange`, Postgres's own text of
it, which raw results and Prisma 7 rows pass on as Prisma's driver does (it reads the text), and
which encodes back to the value it came from. (Unlike asyncpg's own codecs, date.max is 9999-12-31,
not infinity, both ways.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg

UTC = dt.UTC
_DATE_INFINITY, _DATE_NEG_INFINITY = 2**31 - 1, -(2**31)
_TS_INFINITY, _TS_NEG_INFINITY = 2**63 - 1, -(2**63)
_DAY_US = 86_400_000_000
_DATE_2000 = dt.date(2000, 1, 1)
_TS_2000 = dt.datetime(2000, 1, 1)
_TSTZ_2000 = dt.datetime(2000, 1, 1, tzinfo=UTC)
_DAYS_1970_TO_2000 = 10_957
_US = dt.timedelta(microseconds=1)


class OutOfRange(str):
    """Postgres's text for a value Python's datetime cannot hold; `raw` is its wire tuple."""

    raw: tuple[int, ...]

    def __new__(cls, text: str, raw: tuple[int, ...]) -> OutOfRange:
        made = super().__new__(cls, text)
        made.raw = raw
        return made


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of `days` since 2000-01-01 in the proleptic Gregorian calendar, any year
    (astronomical numbering: year 0 is 1 BC)."""
    z = days + _DAYS_1970_TO_2000 + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _date_text(days: int) -> tuple[str, str]:
    """Postgres's text of a date, and its era suffix (" BC" or "")."""
    year, month, day = _civil(days)
    if year <= 0:
        return f"{1 - year:04d}-{month:02d}-{day:02d}", " BC"
    return f"{year:04d}-{month:02d}-{day:02d}", ""


def _clock_text(micros: int) -> str:
    seconds, fraction = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = f"{hour:02d}:{minute:02d}:{second:02d}"
    return text + (f".{fraction:06d}".rstrip("0") if fraction else "")


def _timestamp_text(micros: int, zone: str) -> str:
    days, rest = divmod(micros, _DAY_US)
    date, era = _date_text(days)
    return f"{date} {_clock_text(rest)}{zone}{era}"


# --- decoders -------------------------------------------------------------------------------------


def _decode_date(raw: tuple[int]) -> Any:
    days = raw[0]
    if days == _DATE_INFINITY:
        return OutOfRange("infinity", raw)
    if days == _DATE_NEG_INFINITY:
        return OutOfRange("-infinity", raw)
    try:
        return _DATE_2000 + dt.timedelta(days=days)
    except OverflowError:
        date, era = _date_text(days)
        return OutOfRange(date + era, raw)


def _timestamp_decoder(epoch: dt.datetime, zone: str) -> Callable[[tuple[int]], Any]:
    """A decoder of timestamps counted in microseconds from `epoch`; what Python cannot hold is
    Postgres's text (with `zone` for timestamptz)."""

    def decode(raw: tuple[int]) -> Any:
        micros = raw[0]
        if micros == _TS_INFINITY:
            return OutOfRange("infinity", raw)
        if micros == _TS_NEG_INFINITY:
            return OutOfRange("-infinity", raw)
        try:
            return epoch + dt.timedelta(microseconds=micros)
        except OverflowError:
            return OutOfRange(_timestamp_text(micros, zone), raw)

    return decode


_decode_timestamp = _timestamp_decoder(_TS_2000, "")
_decode_timestamptz = _timestamp_decoder(_TSTZ_2000, "+00")


def _decode_time(raw: tuple[int]) -> Any:
    micros = raw[0]
    if micros >= _DAY_US:
        return OutOfRange(_clock_text(micros), raw)  # 24:00:00
    return (dt.datetime.min + dt.timedelta(microseconds=micros)).time()


def _decode_timetz(raw: tuple[int, int]) -> Any:
    micros, west = raw  # the offset as Postgres sends it: seconds west of UTC
    zone = dt.timezone(dt.timedelta(seconds=-west))
    if micros >= _DAY_US:
        sign = "-" if west > 0 else "+"
        hours, rest = divmod(abs(west), 3600)
        minutes = rest // 60
        return OutOfRange(
            f"{_clock_text(micros)}{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else ""), raw
        )
    return (dt.datetime.min + dt.timedelta(microseconds=micros)).time().replace(tzinfo=zone)


# --- encoders -------------------------------------------------------------------------------------


def _encode_date(value: Any) -> tuple[int, ...]:
    if isinstance(value, OutOfRange):
        return value.raw
    return (value.toordinal() - _DATE_2000.toordinal(),)


def _encode_timestamp(value: Any) -> tuple[int, ...]:
    if isinstance(value, OutOfRange):
        return value.raw
    if type(value) is dt.date:
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return ((value - _TS_2000) // _US,)


def _encode_timestamptz(value: Any) -> tuple[int, ...]:
    if isinstance(value, OutOfRange):
        return value.raw
    if type(value) is dt.date:
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # a naive moment is UTC (the server's zone)
    return ((value - _TSTZ_2000) // _US,)


def _encode_time(value: Any) -> tuple[int, ...]:
    if isinstance(value, OutOfRange):
        return value.raw
    return ((value.hour * 3600 + value.minute * 60 + value.second) * 1_000_000 + value.microsecond,)


def _encode_timetz(value: Any) -> tuple[int, ...]:
    if isinstance(value, OutOfRange):
        return value.raw
    offset = value.utcoffset() or dt.timedelta()
    micros = (value.hour * 3600 + value.minute * 60 + value.second) * 1_000_000 + value.microsecond
    return (micros, -int(offset.total_seconds()))


_CODECS = (
    ("date", _encode_date, _decode_date),
    ("time", _encode_time, _decode_time),
    ("timetz", _encode_timetz, _decode_timetz),
    ("timestamp", _encode_timestamp, _decode_timestamp),
    ("timestamptz", _encode_timestamptz, _decode_timestamptz),
)


async def install(conn: asyncpg.Connection) -> None:
    """Decode and encode this connection's dates, times and timestamps with the codecs above."""
    for name, encoder, decoder in _CODECS:
        await conn.set_type_codec(name, schema="pg_catalog", encoder=encoder, decoder=decoder, format="tuple")
