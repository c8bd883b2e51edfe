"""Golden SQL for each operation family: the exact statements and bind parameters a query compiles to."""

from __future__ import annotations

from origin.engine import psl
from tests.engine.golden import statements

SCHEMA = psl.load(
    """
model User {
  id    Int     @id @default(autoincrement())
  email String  @unique
  name  String? @map("display_name")
  posts Post[]
  @@map("users")
}
model Post {
  id        Int     @id @default(autoincrement())
  title     String
  published Boolean @default(false)
  authorId  Int
  author    User    @relation(fields: [authorId], references: [id])
  tags      Tag[]
}
model Tag {
  id    Int    @id @default(autoincrement())
  name  String @unique
  posts Post[]
}
"""
)


def test_find_unique_selects_only_what_was_asked() -> None:
    assert statements(SCHEMA, "User", "findUnique", {"where": {"id": 7}}, {"email": True}) == [
        (
            'SELECT json_build_object(\'email\', "t0"."email") FROM "public"."users" AS "t0" WHERE "t0"."id" '
            "= $1 LIMIT 1",
            [7],
        )
    ]


def test_find_many_filters_orders_and_pages() -> None:
    assert statements(
        SCHEMA,
        "User",
        "findMany",
        {
            "where": {"email": {"contains": "a", "mode": "insensitive"}, "name": None},
            "orderBy": [{"id": "desc"}],
            "take": 5,
            "skip": 10,
        },
        None,
    ) == [
        (
            "SELECT coalesce(json_agg(s.j), '[]'::json) FROM (SELECT json_build_object('id', \"t0\".\"id\", "
            '\'email\', "t0"."email", \'name\', "t0"."display_name") AS j FROM "public"."users" AS "t0" '
            'WHERE ("t0"."email" ILIKE $1 AND "t0"."display_name" IS NULL) ORDER BY "t0"."id" DESC LIMIT $2 '
            "OFFSET $3) AS s",
            ["%a%", 5, 10],
        )
    ]


def test_an_include_is_a_correlated_json_subquery() -> None:
    assert statements(
        SCHEMA,
        "User",
        "findMany",
        {},
        {
            "$scalars": True,
            "posts": {"arguments": {"where": {"published": True}}, "selection": {"title": True}},
        },
    ) == [
        (
            "SELECT coalesce(json_agg(s.j), '[]'::json) FROM (SELECT json_build_object('id', \"t0\".\"id\", "
            '\'email\', "t0"."email", \'name\', "t0"."display_name", \'posts\', (SELECT '
            "coalesce(json_agg(s.j), '[]'::json) FROM (SELECT json_build_object('title', \"t1\".\"title\") "
            'AS j FROM "public"."Post" AS "t1" WHERE "t1"."authorId" = "t0"."id" AND "t1"."published" = $1) '
            'AS s)) AS j FROM "public"."users" AS "t0") AS s',
            [True],
        )
    ]


def test_relation_filters_are_subqueries_through_join_tables() -> None:
    assert statements(
        SCHEMA,
        "Post",
        "findMany",
        {"where": {"author": {"is": {"email": "a"}}, "tags": {"some": {"name": {"in": ["x", "y"]}}}}},
        {"id": True},
    ) == [
        (
            "SELECT coalesce(json_agg(s.j), '[]'::json) FROM (SELECT json_build_object('id', \"t0\".\"id\") "
            'AS j FROM "public"."Post" AS "t0" WHERE ((CASE WHEN EXISTS (SELECT 1 FROM "public"."users" AS '
            '"t2" WHERE "t2"."id" = "t0"."authorId") THEN (SELECT ("t1"."email" = $1) FROM "public"."users" '
            'AS "t1" WHERE "t1"."id" = "t0"."authorId" LIMIT 1) ELSE FALSE END) AND EXISTS (SELECT 1 FROM '
            '"public"."Tag" AS "t3" WHERE EXISTS (SELECT 1 FROM "public"."_PostToTag" AS "j" WHERE "j"."A" = '
            '"t0"."id" AND "j"."B" = "t3"."id") AND "t3"."name" = ANY($2)))) AS s',
            ["a", ["x", "y"]],
        )
    ]


def test_aggregate_reads_the_filtered_rows_once() -> None:
    assert statements(
        SCHEMA,
        "Post",
        "aggregate",
        {"where": {"published": True}},
        {
            "_count": {"arguments": {}, "selection": {"_all": True}},
            "_max": {"arguments": {}, "selection": {"id": True}},
        },
    ) == [
        (
            "SELECT json_build_object('_count', json_build_object('_all', count(*)), '_max', "
            'json_build_object(\'id\', max("s"."id"))) FROM (SELECT "t0".* FROM "public"."Post" AS "t0" '
            'WHERE "t0"."published" = $1) AS s',
            [True],
        )
    ]


def test_group_by_filters_groups_with_having() -> None:
    assert statements(
        SCHEMA,
        "Post",
        "groupBy",
        {"by": ["authorId"], "having": {"id": {"_count": {"gt": 1}}}},
        {"authorId": True, "_count": {"arguments": {}, "selection": {"_all": True}}},
    ) == [
        (
            "SELECT coalesce(json_agg(s.j), '[]'::json) FROM (SELECT json_build_object('authorId', "
            '"t0"."authorId", \'_count\', json_build_object(\'_all\', count(*))) AS j FROM "public"."Post" '
            'AS "t0" GROUP BY "t0"."authorId" HAVING count("t0"."id") > $1) AS s',
            [1],
        )
    ]


def test_a_create_without_nested_writes_is_one_statement() -> None:
    assert statements(SCHEMA, "User", "createOne", {"data": {"email": "a@x.io"}}, None) == [
        (
            'WITH "w" AS (INSERT INTO "public"."users" ("email") VALUES ($1) RETURNING *) SELECT '
            'json_build_object(\'id\', "t0"."id", \'email\', "t0"."email", \'name\', "t0"."display_name") '
            'FROM "w" AS "t0" LIMIT 1',
            ["a@x.io"],
        )
    ]


def test_a_nested_create_inserts_the_parent_then_its_children_then_reads_back() -> None:
    assert statements(
        SCHEMA,
        "User",
        "createOne",
        {"data": {"email": "a@x.io", "posts": {"create": [{"title": "t"}]}}},
        None,
    ) == [
        ('INSERT INTO "public"."users" ("email") VALUES ($1) RETURNING *', ["a@x.io"]),
        ('INSERT INTO "public"."Post" ("title", "authorId") VALUES ($1, $2) RETURNING *', ["t", "<r0.id>"]),
        (
            'SELECT json_build_object(\'id\', "t0"."id", \'email\', "t0"."email", \'name\', '
            '"t0"."display_name") FROM "public"."users" AS "t0" WHERE "t0"."id" = $1 LIMIT 1',
            ["<r0.id>"],
        ),
    ]


def test_an_update_is_one_statement_returning_the_selection() -> None:
    assert statements(SCHEMA, "User", "updateOne", {"where": {"id": 1}, "data": {"name": "n"}}, None) == [
        (
            'WITH "w" AS (UPDATE "public"."users" AS "t" SET "display_name" = $1 WHERE "t"."id" = $2 '
            'RETURNING "t".*) SELECT json_build_object(\'id\', "t0"."id", \'email\', "t0"."email", \'name\', '
            '"t0"."display_name") FROM "w" AS "t0" LIMIT 1',
            ["n", 1],
        )
    ]


def test_update_many_counts_rows() -> None:
    assert statements(
        SCHEMA, "Post", "updateMany", {"where": {"published": False}, "data": {"published": True}}, None
    ) == [('UPDATE "public"."Post" AS "t" SET "published" = $2 WHERE "t"."published" = $1', [False, True])]


def test_a_delete_returns_the_deleted_record() -> None:
    assert statements(SCHEMA, "User", "deleteOne", {"where": {"email": "a@x.io"}}, None) == [
        (
            'WITH "w" AS (DELETE FROM "public"."users" AS "t" WHERE "t"."email" = $1 RETURNING "t".*) SELECT '
            'json_build_object(\'id\', "t0"."id", \'email\', "t0"."email", \'name\', "t0"."display_name") '
            'FROM "w" AS "t0" LIMIT 1',
            ["a@x.io"],
        )
    ]


def test_like_wildcards_in_values_keep_their_meaning_as_in_prisma() -> None:
    assert statements(SCHEMA, "Post", "deleteMany", {"where": {"title": {"startsWith": "x%"}}}, None) == [
        ('DELETE FROM "public"."Post" AS "t" WHERE "t"."title" LIKE $1', ["x%%"])
    ]


def test_an_upsert_branches_on_the_locked_row() -> None:
    assert statements(
        SCHEMA,
        "User",
        "upsertOne",
        {"where": {"email": "a@x.io"}, "create": {"email": "a@x.io"}, "update": {"name": "b"}},
        {"id": True},
    ) == [
        ('SELECT * FROM "public"."users" AS "t" WHERE "t"."email" = $1 LIMIT 1 FOR UPDATE', ["a@x.io"]),
        (
            "IF r0",
            [
                (
                    'UPDATE "public"."users" AS "t" SET "display_name" = $1 WHERE "t"."id" = $2 '
                    'RETURNING "t".*',
                    ["b", "<r0.id>"],
                ),
                ("SET r1 = r2",),
            ],
            [
                ('INSERT INTO "public"."users" ("email") VALUES ($1) RETURNING *', ["a@x.io"]),
                ("SET r1 = r3",),
            ],
        ),
        (
            'SELECT json_build_object(\'id\', "t0"."id") FROM "public"."users" AS "t0" WHERE "t0"."id" = $1 '
            "LIMIT 1",
            ["<r1.id>"],
        ),
    ]


def test_create_many_fills_missing_columns_with_default() -> None:
    assert statements(
        SCHEMA,
        "User",
        "createMany",
        {"data": [{"email": "a"}, {"email": "b", "name": "c"}], "skipDuplicates": True},
        None,
    ) == [
        (
            'INSERT INTO "public"."users" ("email", "display_name") VALUES ($1, DEFAULT), ($2, $3) ON '
            "CONFLICT DO NOTHING",
            ["a", "b", "c"],
        )
    ]


def test_full_text_search_matches_a_tsvector_against_a_bound_tsquery() -> None:
    assert statements(
        SCHEMA, "Post", "findMany", {"where": {"title": {"search": "cat & dog"}}}, {"id": True}
    ) == [
        (
            "SELECT coalesce(json_agg(s.j), '[]'::json) FROM (SELECT json_build_object('id', "
            '"t0"."id") AS j FROM "public"."Post" AS "t0" WHERE to_tsvector(concat_ws(\' \', "t0"."title")) '
            "@@ to_tsquery($1)) AS s",
            ["cat & dog"],
        )
    ]


def test_relevance_orders_by_ts_rank_with_the_search_bound() -> None:
    relevance = {"fields": ["title"], "search": "cat", "sort": "desc"}
    assert statements(SCHEMA, "Post", "findMany", {"orderBy": [{"_relevance": relevance}]}, {"id": True}) == [
        (
            "SELECT coalesce(json_agg(s.j), '[]'::json) FROM (SELECT json_build_object('id', "
            '"t0"."id") AS j FROM "public"."Post" AS "t0" ORDER BY ts_rank(to_tsvector(concat_ws(\' \', '
            '"t0"."title")), to_tsquery($1)) DESC) AS s',
            ["cat"],
        )
    ]
