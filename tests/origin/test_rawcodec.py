"""The raw-query codec both Prisma fronts share: column types, values and parameters as Prisma's
own executor has them (each expectation was read from @prisma/query-plan-executor 7.10's answers;
the fuzzer in tests/conformance keeps checking them)."""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid
from typing import Any, NamedTuple

import asyncpg
import pytest

from origin import rawcodec
from origin.errors import KnownRequestError
from origin.rawcodec import params as rawparams
from origin.rawcodec import results


class Type(NamedTuple):
    oid: int
    name: str
    kind: str
    schema: str


def pg(name: str, kind: str = "scalar", oid: int = 25, schema: str = "pg_catalog") -> Type:
    return Type(oid, name, kind, schema)


UTC = dt.UTC
HOUR = dt.timezone(dt.timedelta(hours=2))

CELLS: list[tuple[Type, Any, str, Any]] = [
    (pg("int4"), 7, "int", 7),
    (pg("int2"), -1, "int", -1),
    (pg("int8"), 9007199254740993, "bigint", "9007199254740993"),
    (pg("float8"), 0.30000000000000004, "double", 0.30000000000000004),
    (pg("float8"), float("nan"), "double", None),
    (pg("float8"), float("inf"), "double", None),
    (pg("float4"), 0.10000000149011612, "float", 0.1),
    (pg("float4"), 1.4999999853326784e-10, "float", 1.5e-10),
    (pg("float4"), float("-inf"), "float", None),
    (pg("numeric"), decimal.Decimal("1E+2"), "decimal", "100"),
    (pg("numeric"), decimal.Decimal("100.00"), "decimal", "100.00"),
    (pg("numeric"), decimal.Decimal("1.5E+30"), "decimal", "1500000000000000000000000000000"),
    (pg("numeric"), decimal.Decimal("NaN"), "decimal", "NaN"),
    (pg("numeric"), decimal.Decimal("-0.00"), "decimal", "0.00"),
    (pg("money"), "$12.50", "decimal", "12.50"),
    (pg("time"), dt.time(12, 0), "time", "12:00:00"),
    (pg("time"), dt.time(12, 0, 1, 500000), "time", "12:00:01.5"),
    (pg("time"), dt.time(23, 59, 59, 999999), "time", "23:59:59.999999"),
    (pg("timetz"), dt.time(10, 0, 0, 500000, HOUR), "time", "10:00:00.5"),
    (pg("date"), dt.date(2020, 1, 1), "date", "2020-01-01"),
    (pg("timestamp"), dt.datetime(2020, 1, 1, 10), "datetime", "2020-01-01T10:00:00+00:00"),
    (
        pg("timestamp"),
        dt.datetime(2020, 1, 1, 10, 0, 0, 123456),
        "datetime",
        "2020-01-01T10:00:00.123456+00:00",
    ),
    (pg("timestamptz"), dt.datetime(2020, 1, 1, 10, tzinfo=HOUR), "datetime", "2020-01-01T08:00:00+00:00"),
    (pg("jsonb"), '{"a": [1, 2]}', "json", {"a": [1, 2]}),
    (pg("json"), "null", "json", None),
    (pg("bytea"), b"\x01\x02\xff", "bytes", "AQL/"),
    (pg("uuid"), uuid.UUID(int=1), "uuid", "00000000-0000-0000-0000-000000000001"),
    (pg("bpchar"), "ab  ", "string", "ab  "),
    (pg("name"), "a", "string", "a"),
    (pg("bit"), asyncpg.BitString("101"), "string", "101"),
    (pg("inet"), ipaddress.ip_interface("127.0.0.1/32"), "string", "127.0.0.1"),
    (pg("inet"), ipaddress.ip_interface("10.0.0.1/8"), "string", "10.0.0.1/8"),
    (pg("int4[]", "array"), [1, None, 3], "int-array", [1, None, 3]),
    (pg("numeric[]", "array"), [decimal.Decimal("1.5"), decimal.Decimal("2")], "decimal-array", ["1.5", "2"]),
    (pg("money[]", "array"), ["$1.50", "$2.00"], "decimal-array", ["1.50", "2.00"]),
    (pg("time[]", "array"), [dt.time(12)], "time-array", ["12:00:00"]),
    (pg("timestamp[]", "array"), [dt.datetime(2020, 1, 1)], "datetime-array", ["2020-01-01T00:00:00+00:00"]),
    (pg("jsonb[]", "array"), ['{"a": 1}'], "json-array", [{"a": 1}]),
    (pg("bytea[]", "array"), [b"\x01\x02", None], "bytes-array", ["AQI=", None]),
    (pg("float4[]", "array"), [0.10000000149011612], "float-array", [0.1]),
    (pg("int8[]", "array"), [9007199254740993], "bigint-array", ["9007199254740993"]),
    (pg("char[]", "array"), [b"a", b"b"], "char-array", "{a,b}"),
    # The database's own types (enums, …) are text, arrays of them the text of the array.
    (pg("Color", oid=16866, schema="public"), "RED", "string", "RED"),
    (pg("role[]", "array", oid=16865, schema="public"), ["member", "GUEST"], "string", "{member,GUEST}"),
    (pg("tag[]", "array", oid=16900, schema="public"), ["a b", None, ""], "string", '{"a b",NULL,""}'),
]


@pytest.mark.parametrize(("pg_type", "value", "kind", "sent"), CELLS)
def test_raw_values_are_sent_as_prismas_executor_sends_them(
    pg_type: Type, value: Any, kind: str, sent: Any
) -> None:
    columns = results.columns_of(["c"], [pg_type])
    assert results.result(["c"], columns, [[value], [None]]) == {
        "columns": ["c"],
        "types": [kind],
        "rows": [[sent], [None]],
    }


@pytest.mark.parametrize(
    "pg_type",
    [
        pg("char"),
        pg("interval"),
        pg("point"),
        pg("tsvector"),
        pg("record"),
        pg("name[]", "array"),
        pg("timetz[]", "array"),
    ],
)
def test_types_prisma_cannot_read_are_refused(pg_type: Type) -> None:
    with pytest.raises(results.UnsupportedColumn, match="Failed to deserialize column of type"):
        results.columns_of(["c"], [pg_type])


@pytest.mark.parametrize(
    ("value", "scalar", "text"),
    [
        ("2020-01-01T00:00:00.000Z", "datetime", "2020-01-01 00:00:00"),
        ("2021-06-15T12:30:45.123Z", "datetime", "2021-06-15 12:30:45.123"),
        ("AQI=", "bytes", b"\x01\x02"),
        ("5", "bigint", "5"),
        ("1.5", "decimal", "1.5"),
        (True, "unknown", "true"),
        (1.5, "decimal", "1.5"),
        (1e21, "decimal", "1e+21"),
        (1e16, "decimal", "10000000000000000"),
        (1e-7, "decimal", "1e-7"),
        (0.000001, "decimal", "0.000001"),
        ({"a": 1.0, "b": [True, None]}, "unknown", '{"a":1,"b":[true,null]}'),
        ("it's", "string", "it's"),
    ],
)
def test_parameters_are_the_text_prismas_driver_sends(value: Any, scalar: str, text: str | bytes) -> None:
    assert rawparams.param_text(rawcodec.Param(value, scalar)) == text


def test_list_parameters_are_array_literals() -> None:
    param = rawcodec.Param(["a", 'b"c', None], "string", is_list=True)
    assert rawparams.param_text(param) == '{"a","b\\"c",NULL}'
    dates = rawcodec.Param(["2020-01-01T00:00:00.000Z"], "datetime", is_list=True)
    assert rawparams.param_text(dates) == '{"2020-01-01 00:00:00"}'
    assert rawparams.param_text(rawcodec.Param([[1, 2], [3]], "decimal", is_list=True)) == '{{"1","2"},{"3"}}'


async def test_postgres_parses_each_parameter_for_its_placeholder(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        params = [
            rawcodec.Param("2020-01-01T10:00:00.000Z", "datetime"),
            rawcodec.Param("2020-01-01T10:00:00.000Z", "datetime"),
            rawcodec.Param("2020-01-01T10:00:00.000Z", "datetime"),
            rawcodec.Param([1, 2], "decimal", is_list=True),
            rawcodec.Param("7", "bigint"),
        ]
        sql = (
            "SELECT $1 AS untyped, $2::date AS day, $3::timestamptz AS moment, $4::int[] AS ints, "
            "$5::int AS n"
        )
        done = await rawcodec.run(conn, sql, params, fetch=True)
        assert done.value["rows"] == [
            ["2020-01-01 10:00:00", "2020-01-01", "2020-01-01T10:00:00+00:00", [1, 2], 7]
        ]
        with pytest.raises(asyncpg.InvalidTextRepresentationError):
            await rawcodec.run(conn, "SELECT $1::int", [rawcodec.Param(1.5, "decimal")], fetch=True)
        with pytest.raises(KnownRequestError, match="08P01"):
            await rawcodec.run(conn, "SELECT $1::int", [], fetch=True)
    finally:
        await conn.close()


async def test_the_tables_a_raw_statement_touched_are_the_ones_postgres_locked(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute(
            "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int);"
            "INSERT INTO c VALUES (1);"
            "CREATE VIEW v AS SELECT id FROM c;"
            "CREATE FUNCTION log_a() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN INSERT INTO b VALUES (NEW.id); RETURN NEW; END$$;"
            "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION log_a()"
        )
        # The trigger's write and the view's table count, though neither is named in the SQL.
        done = await rawcodec.run(conn, "INSERT INTO a SELECT id FROM v", [], fetch=False)
        assert done.value == 1
        assert done.written == {("public", "a"), ("public", "b")}
        assert done.read == {("public", "v"), ("public", "c")}
        read = await rawcodec.run(conn, "SELECT 'UPDATE a SET id = 1' AS text", [], fetch=True)
        assert read.written == frozenset() and read.read == frozenset()
        # Statements Postgres will not run in a transaction still run.
        vacuumed = await rawcodec.run(conn, "VACUUM a", [], fetch=False)
        assert vacuumed.written == frozenset()
    finally:
        await conn.close()


async def test_a_statement_with_a_column_prisma_cannot_read_runs_then_fails(pg_database: str) -> None:
    # Prisma's driver reads the column types after the statement ran: `SELECT pg_sleep(1)` sleeps,
    # a write returning an interval is written, and the answer is P2010 all the same.
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute("CREATE TABLE a (id int)")
        sql = "WITH w AS (INSERT INTO a VALUES (1) RETURNING id) SELECT NULL::interval AS x FROM w"
        with pytest.raises(
            KnownRequestError, match="Failed to deserialize column of type 'interval'"
        ) as raised:
            await rawcodec.run(conn, sql, [], fetch=True)
        assert raised.value.code == "P2010"
        assert await conn.fetchval("SELECT count(*) FROM a") == 1
        with pytest.raises(KnownRequestError, match="type 'void'"):
            await rawcodec.run(conn, "SELECT pg_sleep(0)", [], fetch=True)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (-2.5e-7, "-2.5e-7"),
        (5, "5"),
    ],
)
def test_numbers_print_as_javascript_prints_them(number: float, text: str) -> None:
    assert rawparams.js_number_text(number) == text
