"""Merged findUniques (origin/engine/batch.py): every query of a batch gets what running it alone
gives (results, nulls, P2025, errors), while a group of one shape costs one statement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from origin.engine import batch, engine, psl
from origin.engine.request import JsonQuery
from origin.engine.schema import Schema
from origin.errors import BreakwaterError
from tests.engine.conftest import RICH_PRISMA, RICH_SQL, query

THINGS_PRISMA = """
datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
}

enum Kind {
  A
  B @map("b")
}

model Thing {
  id     String   @id @db.Uuid
  serial BigInt   @unique
  at     DateTime @unique @db.Timestamptz(3)
  day    DateTime @db.Date
  code   String   @db.VarChar(10)
  kind   Kind
  amount Decimal  @db.Decimal(10, 2)
  data   Json?
  blob   Bytes?   @unique

  @@unique([code, kind])
  @@unique([day, amount])
}
"""

THINGS_SQL = """
CREATE TYPE "Kind" AS ENUM ('A', 'b');
CREATE TABLE "Thing" (
  id uuid PRIMARY KEY, serial bigint NOT NULL UNIQUE, at timestamptz(3) NOT NULL UNIQUE,
  day date NOT NULL, code varchar(10) NOT NULL, kind "Kind" NOT NULL, amount numeric(10, 2) NOT NULL,
  data jsonb, blob bytea UNIQUE, UNIQUE (code, kind), UNIQUE (day, amount));
INSERT INTO "Thing" VALUES
  ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 9007199254740993, '2024-01-02 03:04:05.678+00', '2024-01-02',
   'x', 'A', 1.50, '{"k": [1, "two"]}', '\\x0102'),
  ('b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', -5, '2024-01-02 03:04:05.679+00', '2024-01-03',
   'x', 'b', 2.00, 'null', NULL),
  ('c2eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', 7, '1999-12-31 23:59:59.999+00', '2024-01-02',
   'y', 'b', 3.25, NULL, '\\xff');
"""

SEED_USERS = """
INSERT INTO users (email, name, role, updated_at, manager_id)
SELECT 'u' || g || '@x.io', CASE WHEN g % 3 = 0 THEN NULL ELSE 'User ' || g END,
       CASE WHEN g % 2 = 0 THEN 'ADMIN'::role ELSE 'user'::role END, '2024-05-06 07:08:09.123', NULL
FROM generate_series(1, 12) AS g;
INSERT INTO "Post" (title, views, price, meta, blob, tags, "authorId")
SELECT 'p' || g, g * 1000000000000, g * 1.25, '{"n": 1}', '\\x00ff', ARRAY['a', 'b'], 1 + g % 5
FROM generate_series(1, 20) AS g;
INSERT INTO "Membership" ("userId", "groupId", role) VALUES (1, 1, 'owner'), (1, 2, 'guest'), (2, 1, 'guest');
"""


def q(model: str, action: str, where: dict[str, Any], selection: Any = None) -> JsonQuery:
    made: JsonQuery = query(model, action, {"where": where}, selection)
    return made


async def alone(schema: Schema, conn: asyncpg.Connection, queries: list[JsonQuery]) -> list[Any]:
    out: list[Any] = []
    for one in queries:
        try:
            out.append((await engine.run(schema, one, conn)).json)
        except BreakwaterError as exc:
            out.append({"code": exc.code, "message": exc.message, "meta": exc.meta})
    return out


async def together(
    schema: Schema, conn: asyncpg.Connection, queries: list[JsonQuery]
) -> tuple[list[Any], int, batch.Merged]:
    """The batch as run_batch runs it: (answers, statements run, the merge plan)."""
    statements: list[str] = []

    def log(record: asyncpg.connection.LoggedQuery) -> None:
        if '"public".' in record.query:  # the engine's, not asyncpg's own lookups of a new type
            statements.append(record.query)

    conn.add_query_logger(log)
    merged = batch.plan(schema, queries)
    out: list[Any] = []
    try:
        for one in queries:
            if merged.pending(one):
                await merged.run_group_of(one, conn)
            try:
                outcome = merged.answer(one) if merged.answered(one) else await engine.run(schema, one, conn)
                out.append(outcome.json)
            except BreakwaterError as exc:
                out.append({"code": exc.code, "message": exc.message, "meta": exc.meta})
    finally:
        await asyncio.sleep(0)  # asyncpg calls its loggers soon after a statement, not during it
        conn.remove_query_logger(log)
    return out, len(statements), merged


@pytest.fixture
async def rich(pg_database: str) -> Any:
    conn = await asyncpg.connect(pg_database)
    await conn.execute(RICH_SQL)
    await conn.execute(SEED_USERS)
    await conn.execute(THINGS_SQL)
    schema = psl.load(RICH_PRISMA)
    things = psl.load(THINGS_PRISMA)
    try:
        yield conn, schema, things
    finally:
        await conn.close()


USER_FULL = {
    "$scalars": True,
    "posts": {
        "arguments": {"orderBy": [{"id": "desc"}], "take": 2},
        "selection": {"$scalars": True, "author": {"selection": {"email": True}}},
    },
    "profile": True,
    "_count": {"selection": {"posts": True, "reports": True}},
}


async def test_findUniques_of_one_shape_run_as_one_statement_and_answer_as_alone(rich: Any) -> None:
    conn, schema, _ = rich
    emails = ["u3@x.io", "nobody@x.io", "u1@x.io", "u3@x.io", "u12@x.io"]
    queries = [q("User", "findUnique", {"email": e}, USER_FULL) for e in emails]
    expected = await alone(schema, conn, queries)
    got, statements, merged = await together(schema, conn, queries)
    assert got == expected
    assert statements == 1, statements
    assert len(merged.groups) == len(queries)
    assert expected[1] == "null" and expected[0] == expected[3]


async def test_findUniqueOrThrow_in_a_group_gets_P2025_where_nothing_was_found(rich: Any) -> None:
    conn, schema, _ = rich
    queries = [
        q("User", "findUniqueOrThrow", {"id": 2}, {"email": True}),
        q("User", "findUnique", {"id": 404}, {"email": True}),
        q("User", "findUniqueOrThrow", {"id": 404}, {"email": True}),
        q("User", "findUnique", {"id": 2}, {"email": True}),
    ]
    expected = await alone(schema, conn, queries)
    got, statements, _ = await together(schema, conn, queries)
    assert got == expected
    assert statements == 1
    assert expected[2]["code"] == "P2025" and expected[1] == "null"


THING_CASES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "uuid id, any case",
        [
            {"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
            {"id": "B1EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12"},
            {"id": "00000000-0000-0000-0000-000000000000"},
        ],
    ),
    (
        "BigInt beyond 2^53",
        [
            {"serial": {"$type": "BigInt", "value": "9007199254740993"}},
            {"serial": {"$type": "BigInt", "value": "-5"}},
            {"serial": {"$type": "BigInt", "value": "9007199254740992"}},
        ],
    ),
    (
        "DateTime in other zones",
        [
            {"at": {"$type": "DateTime", "value": "2024-01-02T05:04:05.678+02:00"}},
            {"at": {"$type": "DateTime", "value": "1999-12-31T23:59:59.999Z"}},
            {"at": {"$type": "DateTime", "value": "2024-01-02T03:04:05.677Z"}},
        ],
    ),
    (
        "compound with an enum",
        [
            {"code_kind": {"code": "x", "kind": "B"}},
            {"code_kind": {"code": "x", "kind": "A"}},
            {"code_kind": {"code": "y", "kind": "A"}},
            {"code_kind": {"code": "x", "kind": "B"}},
        ],
    ),
    (
        "compound of a date and a Decimal",
        [
            {
                "day_amount": {
                    "day": {"$type": "DateTime", "value": "2024-01-02T00:00:00.000Z"},
                    "amount": {"$type": "Decimal", "value": "1.5"},
                }
            },
            {
                "day_amount": {
                    "day": {"$type": "DateTime", "value": "2024-01-02T00:00:00.000Z"},
                    "amount": {"$type": "Decimal", "value": "3.250"},
                }
            },
            {
                "day_amount": {
                    "day": {"$type": "DateTime", "value": "2024-01-03T00:00:00.000Z"},
                    "amount": {"$type": "Decimal", "value": "1.5"},
                }
            },
        ],
    ),
    (
        "Bytes",
        [
            {"blob": {"$type": "Bytes", "value": "AQI="}},
            {"blob": {"$type": "Bytes", "value": "/w=="}},
            {"blob": {"$type": "Bytes", "value": "AA=="}},
        ],
    ),
    (
        "a filter and an equals beside the criteria",
        [
            {
                "serial": {"$type": "BigInt", "value": "7"},
                "code": {"startsWith": "y"},
                "kind": {"equals": "B"},
            },
            {
                "serial": {"$type": "BigInt", "value": "-5"},
                "code": {"startsWith": "y"},
                "kind": {"equals": "B"},
            },
            {
                "serial": {"$type": "BigInt", "value": "-5"},
                "code": {"startsWith": "y"},
                "kind": {"equals": "B"},
            },
        ],
    ),
]


@pytest.mark.parametrize("case", [c[0] for c in THING_CASES])
async def test_merged_results_equal_unmerged_for_every_unique_kind(rich: Any, case: str) -> None:
    conn, _, things = rich
    wheres = dict(THING_CASES)[case]
    queries = [q("Thing", "findUnique", w) for w in wheres]
    expected = await alone(things, conn, queries)
    got, statements, _ = await together(things, conn, queries)
    assert got == expected
    assert statements == 1
    assert any(e != "null" for e in expected)


async def test_a_value_that_does_not_convert_fails_alone_and_the_rest_still_share(rich: Any) -> None:
    conn, schema, things = rich
    users = [q("User", "findUnique", {"id": i}) for i in (1, 2, 2**40)]
    expected = await alone(schema, conn, users)
    got, statements, _ = await together(schema, conn, users)
    assert got == expected and statements == 1  # the group's; the value out of range fails before SQL
    assert expected[2]["code"] == "P2009" or "Int" in expected[2]["message"]
    # A uuid asyncpg cannot encode fails the shared statement before the server: each runs alone.
    bad = [q("Thing", "findUnique", {"id": v}) for v in ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "nope")]
    expected = await alone(things, conn, bad)
    got, _, _ = await together(things, conn, bad)
    assert got == expected and expected[1]["code"] != expected[0]
    # Inside a transaction too: nothing reached the server, so the transaction is still usable.
    async with conn.transaction():
        got, _, _ = await together(things, conn, bad)
        assert got == expected
        assert await conn.fetchval("SELECT 1") == 1


async def test_only_same_shapes_between_writes_merge(rich: Any) -> None:
    conn, schema, _ = rich
    queries = [
        q("User", "findUnique", {"id": 1}, {"name": True}),
        q("User", "findUnique", {"id": 2}, {"email": True}),  # another selection: another group
        query("User", "updateOne", {"where": {"id": 1}, "data": {"name": "Changed"}}, {"name": True}),
        q("User", "findUnique", {"id": 1}, {"name": True}),  # after the write: sees it
        q("User", "findUnique", {"id": 3}, {"name": True}),
        q("User", "findUnique", {"email": "u2@x.io"}, {"name": True}),  # other criteria
        q("User", "findUnique", {"id": 4, "name": {"contains": "4"}}, {"name": True}),
        q("User", "findUnique", {"id": 5, "name": {"contains": "5"}}, {"name": True}),  # another value
    ]
    merged = batch.plan(schema, queries)
    assert {i for i, one in enumerate(queries) if id(one) in merged.groups} == {3, 4}
    got, statements, _ = await together(schema, conn, queries)
    assert got[0] == '{"name" : "User 1"}' and got[3] == '{"name" : "Changed"}'
    assert statements == len(queries) - 1


@pytest.fixture
def seeded(pg_database: str) -> Iterator[tuple[asyncio.AbstractEventLoop, asyncpg.Connection, Schema]]:
    loop = asyncio.new_event_loop()

    async def setup() -> asyncpg.Connection:
        conn = await asyncpg.connect(pg_database)
        await conn.execute(RICH_SQL)
        await conn.execute(SEED_USERS)
        return conn

    conn = loop.run_until_complete(setup())
    yield loop, conn, psl.load(RICH_PRISMA)
    loop.run_until_complete(conn.close())
    loop.close()


SELECTIONS = [None, {"email": True, "_count": {"selection": {"posts": True}}}, USER_FULL]
criteria = st.one_of(
    st.builds(lambda i: ("User", {"id": i}), st.integers(-2, 15)),
    st.builds(lambda i: ("User", {"email": f"u{i}@x.io"}), st.integers(0, 14)),
    st.builds(
        lambda u, g: ("Membership", {"userId_groupId": {"userId": u, "groupId": g}}),
        st.integers(0, 3),
        st.integers(0, 3),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(
        st.tuples(criteria, st.sampled_from(["findUnique", "findUniqueOrThrow"]), st.integers(0, 2)),
        min_size=1,
        max_size=12,
    )
)
def test_a_merged_batch_answers_as_its_queries_one_by_one(
    seeded: tuple[asyncio.AbstractEventLoop, asyncpg.Connection, Schema],
    items: list[tuple[tuple[str, dict[str, Any]], str, int]],
) -> None:
    loop, conn, schema = seeded
    queries = [
        q(model, action, where, SELECTIONS[s] if model == "User" else None)
        for (model, where), action, s in items
    ]
    expected = loop.run_until_complete(alone(schema, conn, queries))
    got, statements, merged = loop.run_until_complete(together(schema, conn, queries))
    assert got == expected
    # Each query alone costs a statement; each group one for all its members.
    groups = {id(group) for group in merged.groups.values()}
    assert statements == len(queries) - len(merged.groups) + len(groups)


async def test_a_large_group_is_split_into_statements_of_at_most_MAX_GROUP(
    rich: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, schema, _ = rich
    monkeypatch.setattr(batch, "MAX_GROUP", 3)
    queries = [q("User", "findUnique", {"id": i}, {"email": True}) for i in (1, 2, 3, 4, 5, 99, 7)]
    expected = await alone(schema, conn, queries)
    got, statements, _ = await together(schema, conn, queries)
    assert got == expected
    assert statements == 3  # 3 + 3 merged, the last alone
