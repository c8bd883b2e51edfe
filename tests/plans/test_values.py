"""Values in and out: plan values bound by the Postgres type of their placeholder, and generated
values (raw-query values: tests/origin/test_rawcodec.py)."""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import re
import uuid
from typing import Any, NamedTuple

import pytest

from origin.plans.binds import bind_value
from origin.plans.errors import PlanError, UnsupportedPlan
from origin.plans.generators import Generators


class Type(NamedTuple):
    oid: int
    name: str
    kind: str
    schema: str


def pg(name: str, kind: str = "scalar", schema: str = "pg_catalog") -> Type:
    return Type(0, name, kind, schema)


UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "pg_type", "scalar", "bound"),
    [
        ("2024-05-06T07:08:09.123Z", pg("timestamp"), "datetime", dt.datetime(2024, 5, 6, 7, 8, 9, 123000)),
        (
            "2024-05-06T07:08:09.123Z",
            pg("timestamptz"),
            "datetime",
            dt.datetime(2024, 5, 6, 7, 8, 9, 123000, UTC),
        ),
        ("2024-02-29T00:00:00.000Z", pg("date"), "datetime", dt.date(2024, 2, 29)),
        ("1970-01-01T13:14:15.678Z", pg("time"), "datetime", dt.time(13, 14, 15, 678000)),
        ("0", pg("int8"), "bigint", 0),
        (5, pg("int4"), "int", 5),
        ("12.34", pg("numeric"), "decimal", decimal.Decimal("12.34")),
        (0.5, pg("numeric"), "decimal", decimal.Decimal("0.5")),
        (0.5, pg("float8"), "decimal", 0.5),
        (True, pg("bool"), "boolean", True),
        ('{"a":1}', pg("jsonb"), "json", '{"a":1}'),
        ({"a": 1}, pg("json"), "json", '{"a":1}'),
        ("aGk=", pg("bytea"), "bytes", b"hi"),
        (
            "f1f20f95-a2db-49bb-be18-6f093e328b9a",
            pg("uuid"),
            "string",
            uuid.UUID("f1f20f95-a2db-49bb-be18-6f093e328b9a"),
        ),
        ("10.0.0.1", pg("inet"), "string", ipaddress.ip_interface("10.0.0.1")),
        ("ADMIN", pg("role_kind", schema="public"), "enum", "ADMIN"),
        (["1", "2"], pg("int4[]", "array"), "int", [1, 2]),
        ([True, None], pg("bool[]", "array"), "boolean", [True, None]),
        (None, pg("int4"), "int", None),
        (7, pg("text"), "unknown", "7"),
    ],
)
def test_values_bind_as_the_type_postgres_inferred(
    value: Any, pg_type: Type, scalar: str, bound: Any
) -> None:
    assert bind_value(value, pg_type, scalar) == bound


@pytest.mark.parametrize(
    ("value", "pg_type"),
    [("x", pg("int4")), (1.5, pg("int4")), ("maybe", pg("bool")), (1, pg("int4[]", "array"))],
)
def test_values_that_do_not_fit_are_plan_errors(value: Any, pg_type: Type) -> None:
    with pytest.raises(PlanError, match=f"type `{re.escape(pg_type.name)}`"):
        bind_value(value, pg_type, "unknown")


def test_now_is_one_instant_per_request() -> None:
    generators = Generators(dt.datetime(2024, 5, 6, 7, 8, 9, 123456, UTC))
    assert generators.call("now", []) == generators.call("now", []) == "2024-05-06T07:08:09.123Z"


def test_ids_have_their_formats() -> None:
    generators = Generators()
    assert uuid.UUID(generators.call("uuid", [4])).version == 4
    assert uuid.UUID(generators.call("uuid", [7])).version == 7
    assert re.fullmatch(r"c[0-9a-z]{24}", generators.call("cuid", [1]))
    assert re.fullmatch(r"[a-z][0-9a-z]{23}", generators.call("cuid", [2]))
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", generators.call("ulid", []))
    assert re.fullmatch(r"[A-Za-z0-9_-]{10}", generators.call("nanoid", [10]))
    assert len({generators.call("cuid", [1]) for _ in range(1000)}) == 1000
    with pytest.raises(UnsupportedPlan, match="snowflake"):
        generators.call("snowflake", [])
