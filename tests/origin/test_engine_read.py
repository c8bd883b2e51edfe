"""Golden SQL for the read slice, and the same queries against real Postgres."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from origin.engine import engine, plan, request, sql
from origin.engine.introspect import introspect
from origin.engine.schema import Model, ScalarField, Schema
from origin.errors import KnownRequestError, QueryValidationError


def users_schema() -> Schema:
    model = Model(
        "User",
        "users",
        fields={
            "id": ScalarField("id", "id", "Int", is_id=True, is_unique=True),
            "email": ScalarField("email", "email", "String", is_unique=True),
            "name": ScalarField("name", "display name", "String", required=False),
        },
        primary_key=("id",),
        unique_sets=[("email",)],
    )
    return Schema({"User": model})


def compile_query(
    action: str, arguments: dict[str, Any], selection: dict[str, Any] | None = None
) -> tuple[str, list[Any]]:
    body = {
        "modelName": "User",
        "action": action,
        "query": {"arguments": arguments, "selection": selection or {"$scalars": True}},
    }
    return sql.render_read(plan.plan_read(users_schema(), request.parse(body)))


def test_find_many_with_equality_order_and_window() -> None:
    text, params = compile_query(
        "findMany",
        {"where": {"email": "a@x.io", "name": None}, "orderBy": [{"id": "desc"}], "take": 5, "skip": 10},
    )
    assert text == (
        'SELECT "id", "email", "display name" FROM "public"."users" '
        'WHERE "email" = $1 AND "display name" IS NULL ORDER BY "id" DESC LIMIT $2 OFFSET $3'
    )
    assert params == ["a@x.io", 5, 10]


def test_find_unique_selects_only_what_was_asked() -> None:
    text, params = compile_query("findUnique", {"where": {"id": 7}}, {"email": True})
    assert text == 'SELECT "email" FROM "public"."users" WHERE "id" = $1 LIMIT $2'
    assert params == [7, 1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"where": {"name": "x"}}, "unique criterion"),
        ({"where": {"id": "7"}}, "expected a 32-bit Int"),
        ({"where": {"id": True}}, "expected a 32-bit Int"),
        ({"where": {"bogus": 1}}, "Unknown argument `bogus`"),
        ({"where": {"id": 1}, "take": -1}, "non-negative"),
        ({"where": {"id": 1}, "data": {}}, "Unsupported argument"),
    ],
)
def test_invalid_queries_fail_validation_before_any_sql(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(QueryValidationError, match=message):
        compile_query("findUnique", arguments)


def test_identifiers_are_quoted_and_values_never_enter_the_text() -> None:
    text, params = compile_query("findMany", {"where": {"email": "x'; DROP TABLE users; --"}})
    assert "DROP" not in text and params == ["x'; DROP TABLE users; --"]


async def test_reads_against_real_postgres(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute(
            'CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, "display name" text)'
        )
        await conn.execute(
            "INSERT INTO users (email, \"display name\") VALUES ('a@x.io', 'A'), ('b@x.io', NULL)"
        )
        schema = await introspect(conn)
        assert schema.models["users"].primary_key == ("id",)
        assert schema.models["users"].unique_criteria() == [("id",), ("email",)]

        def q(action: str, arguments: dict[str, Any]) -> request.JsonQuery:
            return request.parse(
                {
                    "modelName": "users",
                    "action": action,
                    "query": {"arguments": arguments, "selection": {"$scalars": True}},
                }
            )

        assert await engine.run(schema, q("findUnique", {"where": {"email": "b@x.io"}}), conn) == {
            "id": 2,
            "email": "b@x.io",
            "display name": None,
        }
        assert await engine.run(schema, q("findUnique", {"where": {"id": 99}}), conn) is None
        with pytest.raises(KnownRequestError) as info:
            await engine.run(schema, q("findUniqueOrThrow", {"where": {"id": 99}}), conn)
        assert info.value.code == "P2025"
        rows = await engine.run(schema, q("findMany", {"orderBy": {"id": "desc"}}), conn)
        assert [r["id"] for r in rows] == [2, 1]
    finally:
        await conn.close()


async def test_every_scalar_type_comes_back_tagged(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute("""
            CREATE TYPE role AS ENUM ('ADMIN', 'USER');
            CREATE TABLE things (id bigint PRIMARY KEY, at timestamptz, price numeric(10,2), ratio float8,
                                 meta jsonb, blob bytea, role role, tags text[], ok boolean);
            INSERT INTO things VALUES (1, '2024-05-06T07:08:09.123Z', 12.30, 0.5, '{"a":[1,"x"]}', 'hi',
                                       'ADMIN', '{a,b}', true);
        """)
        schema = await introspect(conn)
        found = await engine.run(
            schema,
            request.parse(
                {
                    "modelName": "things",
                    "action": "findUnique",
                    "query": {
                        "arguments": {"where": {"id": {"$type": "BigInt", "value": "1"}}},
                        "selection": {"$scalars": True},
                    },
                }
            ),
            conn,
        )
        assert found == {
            "id": {"$type": "BigInt", "value": "1"},
            "at": {"$type": "DateTime", "value": "2024-05-06T07:08:09.123Z"},
            "price": {"$type": "Decimal", "value": "12.3"},
            "ratio": 0.5,
            "meta": {"$type": "Json", "value": '{"a": [1, "x"]}'},
            "blob": {"$type": "Bytes", "value": "aGk="},
            "role": "ADMIN",
            "tags": ["a", "b"],
            "ok": True,
        }
        assert schema.enums == {"role": ["ADMIN", "USER"]}
    finally:
        await conn.close()
