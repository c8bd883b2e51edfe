"""dataMap: rows read from columns, and JSON aggregated by relationJoins queries, become the client's
JSON-protocol tagged values."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

from origin.plans.datamap import apply

ROLE = {"Role": {"ADMIN": "ADMIN", "guest": "GUEST"}}


def field(db_name: str, kind: str, arity: str = "required", **extra: Any) -> dict[str, Any]:
    return {"type": "field", "dbName": db_name, "fieldType": {"arity": arity, "type": kind, **extra}}


def obj(serialized: str | None, **fields: Any) -> dict[str, Any]:
    return {"type": "object", "serializedName": serialized, "skipNulls": False, "fields": fields}


EVERY_TYPE = obj(
    None,
    id=field("id", "bigint"),
    n=field("n", "int"),
    ratio=field("ratio", "float"),
    price=field("price", "decimal"),
    at=field("at", "datetime"),
    day=field("day", "datetime"),
    clock=field("clock", "datetime"),
    meta=field("meta", "json"),
    blob=field("blob", "bytes", encoding="array"),
    role=field("role", "enum", name="Role"),
    tags=field("tags", "string", "list"),
    uid=field("uid", "string"),
    flag=field("flag", "boolean"),
    missing=field("missing", "string", "optional"),
)
EXPECTED = {
    "id": {"$type": "BigInt", "value": "9007199254740993"},
    "n": 7,
    "ratio": 0.5,
    "price": {"$type": "Decimal", "value": "10.5"},
    "at": {"$type": "DateTime", "value": "2024-05-06T07:08:09.123Z"},
    "day": {"$type": "DateTime", "value": "2024-02-29T00:00:00.000Z"},
    "clock": {"$type": "DateTime", "value": "1970-01-01T13:14:15.678Z"},
    "meta": {"$type": "Json", "value": '{"a":[1,"x"]}'},
    "blob": {"$type": "Bytes", "value": "aGk="},
    "role": "GUEST",
    "tags": ["a", "b"],
    "uid": "f1f20f95-a2db-49bb-be18-6f093e328b9a",
    "flag": True,
    "missing": None,
}


def test_column_values_become_tagged_values() -> None:
    row = {
        "id": 9007199254740993,
        "n": 7,
        "ratio": 0.5,
        "price": decimal.Decimal("10.50"),
        "at": dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
        "day": dt.date(2024, 2, 29),
        "clock": dt.time(13, 14, 15, 678000),
        "meta": '{"a": [1, "x"]}',
        "blob": b"hi",
        "role": "guest",
        "tags": ["a", "b"],
        "uid": uuid.UUID("f1f20f95-a2db-49bb-be18-6f093e328b9a"),
        "flag": True,
        "missing": None,
    }
    assert apply([row], EVERY_TYPE, ROLE) == [EXPECTED]


def test_json_aggregated_by_relation_joins_becomes_the_same_values() -> None:
    nested = {
        "id": 9007199254740993,
        "n": 7,
        "ratio": 0.5,
        "price": 10.50,
        "at": "2024-05-06T07:08:09.123",
        "day": "2024-02-29",
        "clock": "13:14:15.678",
        "meta": {"a": [1, "x"]},
        "blob": "\\x6869",
        "role": "guest",
        "tags": ["a", "b"],
        "uid": "f1f20f95-a2db-49bb-be18-6f093e328b9a",
        "flag": True,
        "missing": None,
    }
    structure = obj(None, id=field("id", "int"), things=obj("things", **EVERY_TYPE["fields"]))
    row = {"id": 1, "things": json.dumps([nested])}
    assert apply(row, structure, ROLE) == {"id": 1, "things": [EXPECTED]}


def test_timestamps_with_a_zone_are_printed_in_utc() -> None:
    structure = obj(None, at=field("at", "datetime"))
    zoned = dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert apply({"at": zoned}, structure, {}) == {
        "at": {"$type": "DateTime", "value": "2024-05-06T07:08:09.000Z"}
    }
    assert apply({"at": "2024-05-06T09:08:09+02:00"}, structure, {}) == {
        "at": {"$type": "DateTime", "value": "2024-05-06T07:08:09.000Z"}
    }


def test_a_null_list_reads_as_empty_and_a_null_relation_as_null() -> None:
    structure = obj(None, tags=field("tags", "string", "list"), author=obj("author", id=field("id", "int")))
    assert apply({"tags": None, "author": None}, structure, {}) == {"tags": [], "author": None}


def test_grouped_fields_without_a_serialized_name_read_from_the_same_row() -> None:
    structure = obj(
        None,
        _count=obj(None, _all=field("_count$_all", "int")),
        _max=obj(None, id=field("_max$id", "int")),
    )
    assert apply([{"_count$_all": 2, "_max$id": 9}], structure, {}) == [
        {"_count": {"_all": 2}, "_max": {"id": 9}}
    ]


def test_affected_rows_are_a_count() -> None:
    assert apply(3, {"type": "affectedRows"}, {}) == {"count": 3}


def test_decimals_print_like_decimal_js() -> None:
    structure = obj(None, d=field("d", "decimal"))
    cases = {"1.00": "1", "-0.000001": "-0.000001", "1E+3": "1000", "12345678.90": "12345678.9", "0.00": "0"}
    for given, printed in cases.items():
        assert apply({"d": decimal.Decimal(given)}, structure, {}) == {
            "d": {"$type": "Decimal", "value": printed}
        }
