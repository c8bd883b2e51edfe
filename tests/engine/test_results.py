"""Engine results against real Postgres: values, the shape cache, atomic nested writes, introspection,
raw queries and the models each operation reads and writes."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from origin.engine import engine, psl
from origin.engine.engine import cache_of
from origin.engine.introspect import introspect
from origin.engine.schema import Schema
from origin.errors import KnownRequestError, QueryValidationError
from tests.engine.conftest import Run, query


async def test_every_scalar_type_comes_back_tagged(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute("""
            CREATE TYPE role AS ENUM ('ADMIN', 'USER');
            CREATE TABLE things (id bigint PRIMARY KEY, at timestamptz, day date, price numeric(10,2),
                                 ratio float8, meta jsonb, blob bytea, role role, tags text[], ok boolean);
            INSERT INTO things VALUES (1, '2024-05-06T07:08:09.123Z', '2024-05-06', 12.30, 0.5,
                                       '{"a":[1,"x"]}', 'hi', 'ADMIN', '{a,b}', true);
        """)
        schema = await introspect(conn)
        where = {"where": {"id": {"$type": "BigInt", "value": "1"}}}
        outcome = await engine.run(schema, query("things", "findUnique", where), conn)
        assert outcome.value() == {
            "id": {"$type": "BigInt", "value": "1"},
            "at": {"$type": "DateTime", "value": "2024-05-06T07:08:09.123Z"},
            "day": {"$type": "DateTime", "value": "2024-05-06T00:00:00.000Z"},
            "price": {"$type": "Decimal", "value": "12.3"},
            "ratio": 0.5,
            "meta": {"$type": "Json", "value": '{"a": [1, "x"]}'},
            "blob": {"$type": "Bytes", "value": "aGk="},
            "role": "ADMIN",
            "tags": ["a", "b"],
            "ok": True,
        }
        assert schema.enums["role"].names() == ["ADMIN", "USER"]
    finally:
        await conn.close()


async def test_a_repeated_shape_is_compiled_once_and_bound_with_new_values(
    run: Run, rich_schema: Schema
) -> None:
    await run("User", "createMany", {"data": [{"email": "a@x.io"}, {"email": "b@x.io"}]})
    cache = cache_of(rich_schema)
    before = (cache.hits, cache.misses)
    first = await run("User", "findUnique", {"where": {"email": "a@x.io"}}, {"email": True})
    second = await run("User", "findUnique", {"where": {"email": "b@x.io"}}, {"email": True})
    assert (first, second) == ({"email": "a@x.io"}, {"email": "b@x.io"})
    assert (cache.hits - before[0], cache.misses - before[1]) == (1, 1)


async def test_shapes_that_differ_in_structure_never_share_a_compiled_query(run: Run) -> None:
    await run("User", "createMany", {"data": [{"email": "a@x.io", "name": "A"}, {"email": "b@x.io"}]})

    async def emails(arguments: dict[str, Any]) -> list[str]:
        return [u["email"] for u in await run("User", "findMany", arguments, {"email": True})]

    assert await emails({"orderBy": {"email": "asc"}}) == ["a@x.io", "b@x.io"]
    assert await emails({"orderBy": {"email": "desc"}}) == ["b@x.io", "a@x.io"]
    assert await emails({"where": {"name": None}}) == ["b@x.io"]
    assert await emails({"where": {"name": "A"}}) == ["a@x.io"]
    assert await emails({"take": 1, "orderBy": {"email": "asc"}}) == ["a@x.io"]
    assert await emails({"take": -1, "orderBy": {"email": "asc"}}) == ["b@x.io"]


async def test_an_invalid_value_in_a_cached_shape_fails_before_any_sql(
    run: Run, rich_db: asyncpg.Connection
) -> None:
    await run("Post", "findMany", {"where": {"views": {"gt": {"$type": "BigInt", "value": "1"}}}})
    with pytest.raises(QueryValidationError, match="expected a BigInt"):
        await run("Post", "findMany", {"where": {"views": {"gt": {"$type": "BigInt", "value": "x"}}}})
    with pytest.raises(QueryValidationError, match="a 32-bit Int"):
        await run(
            "User",
            "createOne",
            {"data": {"email": "a@x.io", "posts": {"create": {"title": "t", "id": 2**40}}}},
        )
    assert await rich_db.fetchval("SELECT count(*) FROM users") == 0


async def test_a_failing_nested_write_leaves_nothing_behind(run: Run, rich_db: asyncpg.Connection) -> None:
    with pytest.raises(KnownRequestError) as info:
        await run(
            "User",
            "createOne",
            {"data": {"email": "a@x.io", "posts": {"create": [{"title": "ok"}, {"title": "x" * 201}]}}},
        )
    assert info.value.code == "P2000"
    assert await rich_db.fetchval("SELECT count(*) FROM users") == 0
    assert await rich_db.fetchval('SELECT count(*) FROM "Post"') == 0


async def test_writes_report_the_models_they_read_and_change(
    rich_db: asyncpg.Connection, rich_schema: Schema
) -> None:
    created = await engine.run(
        rich_schema,
        query(
            "User",
            "createOne",
            {
                "data": {
                    "email": "a@x.io",
                    "posts": {"create": {"title": "t", "categories": {"create": {"name": "c"}}}},
                }
            },
            {"email": True, "posts": {"arguments": {}, "selection": {"title": True}}},
        ),
        rich_db,
    )
    assert created.models_written == {"User", "Post", "Category"}
    assert created.models_read == {"User", "Post"}
    found = await engine.run(
        rich_schema,
        query(
            "Post",
            "findMany",
            {"where": {"author": {"is": {"email": "a@x.io"}}}},
            {"title": True, "_count": True},
        ),
        rich_db,
    )
    assert (found.models_read, found.models_written) == ({"Post", "User", "Category", "Comment"}, frozenset())
    deleted = await engine.run(
        rich_schema, query("User", "deleteMany", {"where": {"email": "nobody"}}), rich_db
    )
    # Profiles cascade, posts' authors are required (Restrict), managers SetNull, follows are join rows.
    assert deleted.models_written == {"User", "Profile"}


async def test_raw_queries_bind_by_type_and_report_columns(run: Run) -> None:
    await run("User", "createOne", {"data": {"email": "a@x.io"}})
    result = await run(
        None,
        "queryRaw",
        {
            "query": "SELECT id, email, $1::bigint AS big, $2::numeric AS dec, $3::bytea AS b, "
            "now() > $4 AS past FROM users WHERE id = $5",
            "parameters": '[{"prisma__type":"bigint","prisma__value":"9007199254740993"},'
            '{"prisma__type":"decimal","prisma__value":"1.50"},{"prisma__type":"bytes","prisma__value":"aGk="},'
            '{"prisma__type":"date","prisma__value":"2000-01-01T00:00:00.000Z"},1]',
        },
    )
    assert result == {
        "columns": ["id", "email", "big", "dec", "b", "past"],
        "types": ["int", "string", "bigint", "decimal", "bytes", "bool"],
        "rows": [[1, "a@x.io", "9007199254740993", "1.50", "aGk=", True]],
    }
    assert await run(None, "executeRaw", {"query": "UPDATE users SET name = $1", "parameters": '["n"]'}) == 1
    with pytest.raises(KnownRequestError) as info:
        await run(None, "executeRaw", {"query": "UPDATE nope SET x = 1", "parameters": "[]"})
    assert info.value.code == "P2010"


async def test_introspection_turns_foreign_keys_and_join_tables_into_relations(
    rich_db: asyncpg.Connection,
) -> None:
    schema = await introspect(rich_db)
    post, users = schema.models["Post"], schema.models["users"]
    assert post.relations["author"].target == "users" and post.relations["author"].fields == ("authorId",)
    assert users.relations["Post"].is_list
    assert users.relations["Profile"].is_list is False  # userId is unique: one-to-one
    assert users.relations["manager"].target == "users"
    assert "_CategoryToPost" not in schema.models
    assert post.relations["Category"].joined().kind == "m2m"
    assert users.fields["id"].default is not None and users.fields["id"].default.kind == "autoincrement"


async def test_two_tenants_with_the_same_query_shape_never_share_compiled_sql() -> None:
    a = psl.load('model User {\n  id Int @id\n  @@map("a_users")\n}')
    b = psl.load('model User {\n  id Int @id\n  @@map("b_users")\n}')
    from origin.engine.engine import prepare

    program_a, _ = prepare(a, query("User", "findUnique", {"where": {"id": 1}}))
    program_b, _ = prepare(b, query("User", "findUnique", {"where": {"id": 1}}))
    assert "a_users" in str(program_a.steps) and "b_users" in str(program_b.steps)
    assert cache_of(a) is not cache_of(b)


async def test_nested_relation_operations_on_optional_and_to_one_relations(run: Run) -> None:
    now = {"createdAt": {"$type": "DateTime", "value": "2024-01-01T00:00:00.000Z"}}
    boss = await run("User", "createOne", {"data": {"email": "boss@x.io", **now}}, {"id": True})
    for email in ("a@x.io", "b@x.io", "c@x.io"):
        await run("User", "createOne", {"data": {"email": email}})
    reports = {
        "email": True,
        "reports": {"arguments": {"orderBy": {"email": "asc"}}, "selection": {"email": True}},
    }

    async def update(data: dict[str, Any]) -> Any:
        return await run("User", "updateOne", {"where": {"id": boss["id"]}, "data": data}, reports)

    assert (await update({"reports": {"connect": [{"email": "a@x.io"}, {"email": "b@x.io"}]}}))[
        "reports"
    ] == [
        {"email": "a@x.io"},
        {"email": "b@x.io"},
    ]
    assert (await update({"reports": {"disconnect": [{"email": "a@x.io"}]}}))["reports"] == [
        {"email": "b@x.io"}
    ]
    assert (await update({"reports": {"set": [{"email": "c@x.io"}]}}))["reports"] == [{"email": "c@x.io"}]
    made = await update(
        {"reports": {"connectOrCreate": {"where": {"email": "d@x.io"}, "create": {"email": "d@x.io"}}}}
    )
    assert made["reports"] == [{"email": "c@x.io"}, {"email": "d@x.io"}]
    profile = {"email": True, "profile": {"arguments": {}, "selection": {"bio": True}}}
    upserts = [
        await run(
            "User",
            "updateOne",
            {
                "where": {"email": "a@x.io"},
                "data": {"profile": {"upsert": {"create": {"bio": bio}, "update": {"bio": bio}}}},
            },
            profile,
        )
        for bio in ("new", "changed")
    ]
    assert [u["profile"] for u in upserts] == [{"bio": "new"}, {"bio": "changed"}]
    assert (
        await run(
            "User",
            "updateOne",
            {"where": {"email": "a@x.io"}, "data": {"profile": {"delete": True}}},
            profile,
        )
    )["profile"] is None
    with pytest.raises(KnownRequestError, match="violate the required relation") as refused:
        await run(
            "User",
            "updateOne",
            {"where": {"email": "a@x.io"}, "data": {"posts": {"disconnect": [{"id": 1}]}}},
        )
    assert refused.value.code == "P2014"
    with pytest.raises(KnownRequestError) as info:
        await run(
            "User", "updateOne", {"where": {"email": "a@x.io"}, "data": {"posts": {"delete": [{"id": 99}]}}}
        )
    assert info.value.code == "P2017"
    assert (
        await run(
            "User",
            "findUnique",
            {"where": {"email": "c@x.io"}},
            {"manager": {"arguments": {}, "selection": {"email": True}}},
        )
    ) == {"manager": {"email": "boss@x.io"}}


async def test_a_unique_violation_names_the_prisma_fields_not_the_mapped_columns(pg_database: str) -> None:
    schema = psl.load(
        'datasource db {\n  provider = "postgresql"\n}\n'
        "model Account {\n"
        "  id     Int    @id\n"
        '  handle String @unique @map("handle_text")\n'
        '  @@map("accounts")\n'
        "}\n"
    )
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, handle_text text NOT NULL UNIQUE)")
        create = query("Account", "createOne", {"data": {"id": 1, "handle": "ada"}})
        await engine.run(schema, create, conn)
        again = query("Account", "createOne", {"data": {"id": 2, "handle": "ada"}})
        with pytest.raises(KnownRequestError) as info:
            await engine.run(schema, again, conn)
    finally:
        await conn.close()
    assert info.value.code == "P2002"
    assert info.value.meta["target"] == ["handle"]
    assert info.value.message == "Unique constraint failed on the fields: (`handle`)"


async def test_full_text_search_finds_rows_by_tsquery_and_reports_bad_syntax(run: Run) -> None:
    await run("User", "createOne", {"data": {"email": "fts@x.io"}})
    titles = ["The cat sat", "Dogs and cats play", "A dog barks", "Nothing here"]
    await run("Post", "createMany", {"data": [{"title": t, "authorId": 1} for t in titles]})

    async def titles_for(where: dict[str, Any]) -> list[str]:
        found = await run("Post", "findMany", {"where": where, "orderBy": {"id": "asc"}}, {"title": True})
        return [row["title"] for row in found]

    assert await titles_for({"title": {"search": "cat & dog"}}) == ["Dogs and cats play"]
    assert await titles_for({"title": {"search": "cat | bark"}}) == titles[:3]
    assert await titles_for({"title": {"not": {"search": "cat | dog"}}}) == ["Nothing here"]
    with pytest.raises(KnownRequestError) as info:
        await titles_for({"title": {"search": "cat dog"}})  # two words need an operator
    assert info.value.code == "P2039" and "tsquery" in info.value.message
    with pytest.raises(QueryValidationError, match="Unknown argument `search`"):
        await titles_for({"views": {"search": "cat"}})

    async def ranked(search: str) -> list[str]:
        relevance = {"fields": ["title"], "search": search, "sort": "desc"}
        order = [{"_relevance": relevance}, {"id": "asc"}]
        found = await run("Post", "findMany", {"orderBy": order, "take": 2}, {"title": True})
        return [row["title"] for row in found]

    # "cat" twice beats "cat" once; the same compiled shape serves both searches.
    await run("Post", "createOne", {"data": {"title": "cat cat cat", "authorId": 1}})
    assert await ranked("cat") == ["cat cat cat", "The cat sat"]
    assert await ranked("bark") == ["A dog barks", "The cat sat"]
    with pytest.raises(QueryValidationError, match="String fields"):
        await run(
            "Post",
            "findMany",
            {"orderBy": {"_relevance": {"fields": ["views"], "search": "x", "sort": "asc"}}},
        )
