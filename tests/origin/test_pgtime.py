"""Dates, times and timestamps past what Python's datetime holds: decoded as Postgres's own text,
encoded back to the same value; the rest as asyncpg always decoded them."""

from __future__ import annotations

import datetime as dt
import random

import asyncpg
import pytest

from origin import pgtime


def test_the_calendar_agrees_with_python_where_python_has_one() -> None:
    rng = random.Random(7)
    base = dt.date(2000, 1, 1)
    lowest, highest = dt.date.min.toordinal() - base.toordinal(), dt.date.max.toordinal() - base.toordinal()
    for days in [lowest, highest, 0, -1, 59, 60, *(rng.randint(lowest, highest) for _ in range(2000))]:
        moment = base + dt.timedelta(days=days)
        assert pgtime._civil(days) == (moment.year, moment.month, moment.day)


@pytest.mark.parametrize(
    "expression",
    [
        "'10000-01-01'::date",
        "'infinity'::date",
        "'-infinity'::date",
        "'4714-11-24 BC'::date",
        "'0001-12-31 BC'::date",
        "'10000-01-01 10:00:00.5'::timestamp",
        "'0001-01-01 10:00 BC'::timestamp",
        "'infinity'::timestamp",
        "'294276-12-31 23:59:59'::timestamp",
        "'10000-01-01 10:00:00.5+00'::timestamptz",
        "'-infinity'::timestamptz",
        "'4713-01-01 BC'::timestamptz",
        "'24:00'::time",
        "'24:00-05:30'::timetz",
    ],
)
async def test_a_value_python_cannot_hold_is_postgres_text_and_goes_back_unchanged(
    pg_database: str, expression: str
) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await pgtime.install(conn)
        value = await conn.fetchval(f"SELECT {expression}")
        text = await conn.fetchval(f"SELECT ({expression})::text")
        assert isinstance(value, pgtime.OutOfRange)
        assert value == text
        pg_type = expression.rsplit("::", 1)[1]
        assert await conn.fetchval(f"SELECT $1::{pg_type} = {expression}", value)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'2020-02-29'::date", dt.date(2020, 2, 29)),
        ("'0001-01-01'::date", dt.date(1, 1, 1)),
        ("'9999-12-31'::date", dt.date(9999, 12, 31)),
        ("'2020-01-01 10:00:00.123456'::timestamp", dt.datetime(2020, 1, 1, 10, 0, 0, 123456)),
        ("'1969-12-31 23:59:59'::timestamp", dt.datetime(1969, 12, 31, 23, 59, 59)),
        ("'2020-01-01 10:00+02'::timestamptz", dt.datetime(2020, 1, 1, 8, tzinfo=dt.UTC)),
        ("'12:34:56.5'::time", dt.time(12, 34, 56, 500000)),
        ("'12:00-05:30'::timetz", dt.time(12, tzinfo=dt.timezone(-dt.timedelta(hours=5, minutes=30)))),
    ],
)
async def test_values_python_holds_decode_and_encode_as_before(
    pg_database: str, expression: str, expected: object
) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await pgtime.install(conn)
        assert await conn.fetchval(f"SELECT {expression}") == expected
        pg_type = expression.rsplit("::", 1)[1]
        assert await conn.fetchval(f"SELECT $1::{pg_type} = {expression}", expected)
        # 9999-12-31 is a date, not infinity (asyncpg's own codec makes date.max infinity)
        assert await conn.fetchval("SELECT $1::date::text", dt.date.max) == "9999-12-31"
    finally:
        await conn.close()
