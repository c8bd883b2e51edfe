"""The Prisma schema parser: the model it builds, errors with line and column, and a fuzz that it
never fails any other way."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from origin.engine import psl
from origin.engine.schema import Default, Link
from tests.engine.conftest import RICH_PRISMA


def test_the_rich_schema_builds_every_kind_of_field_and_relation() -> None:
    schema = psl.load(RICH_PRISMA)
    user, post = schema.models["User"], schema.models["Post"]
    assert (user.table, user.fields["createdAt"].column) == ("users", "created_at")
    assert user.fields["role"].default == Default("value", "USER")
    assert [(v.name, v.db_name) for v in schema.enums["Role"].values] == [
        ("ADMIN", "ADMIN"),
        ("USER", "user"),
    ]
    assert schema.enums["Role"].db_name == "role"
    assert user.fields["updatedAt"].updated_at
    assert post.fields["price"].native_type == "decimal" and post.fields["title"].native_type == "varchar"
    assert post.fields["tags"].is_list and not post.fields["rating"].required
    assert user.unique_criteria() == [("id",), ("email",)]
    assert schema.models["Membership"].primary_key == ("userId", "groupId")
    assert [k.name for k in schema.models["Membership"].unique_keys()] == ["userId_groupId"]
    assert schema.models["Profile"].fields["id"].default == Default("uuid")
    assert schema.models["Comment"].fields["id"].default == Default("cuid")
    # one-to-many, both sides
    assert post.relations["author"].link == Link("fk_here", (("authorId", "id"),))
    assert user.relations["posts"].link == Link("fk_there", (("id", "authorId"),))
    # one-to-one, referential action kept
    assert schema.models["Profile"].relations["user"].on_delete == "Cascade"
    assert not user.relations["profile"].is_list
    # implicit many-to-many, and a self many-to-many
    categories = post.relations["categories"].joined()
    assert (categories.kind, categories.join_table, categories.this_column) == ("m2m", "_CategoryToPost", "B")
    followers, following = user.relations["followers"].joined(), user.relations["following"].joined()
    assert followers.join_table == following.join_table == "_Follows"
    assert {followers.this_column, following.this_column} == {"A", "B"}
    # a self one-to-many
    assert user.relations["manager"].link == Link("fk_here", (("managerId", "id"),))
    assert user.relations["reports"].link == Link("fk_there", (("id", "managerId"),))


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("model A {\n  id Int @id\n  x Foo\n}", "unknown type `Foo`", 3, 3),
        ("model A {\n  id Int @id\n  id String\n}", "defined twice", 3, 3),
        ("model A {\n  id Int @id @default(now())\n}", "now() is only valid on DateTime", 2, 23),
        ("model A {\n  id Int @id\n", "unclosed block", 3, 1),
        ('model A {\n  id Int @id\n  s String @default("x\n}', "unterminated string", 3, 21),
        ("model A {\n  id Int @id @bogus\n}", "unknown field attribute @bogus", 2, 14),
        ('datasource db {\n  provider = "mysql"\n}', "Breakwater serves PostgreSQL", 2, 3),
        ("model A {\n  id Int @id\n  @@unique([nope])\n}", "not a scalar field", 3, 3),
        ("enum E {\n}", "has no values", 1, 1),
        ("modle A {}", "expected a block", 1, 1),
        ("model A {\n  id Int? @id\n}", "must be required", 2, 11),
        # An implicit many-to-many with a composite id: Prisma's P1012, at the field referencing it.
        (
            "model A {\n  x Int\n  y Int\n  bs B[]\n  @@id([x, y])\n}\nmodel B {\n  id Int @id\n  as A[]\n}",
            "The relation field `as` on model `B` references `A` which does not have an `@id` field",
            9,
            3,
        ),
    ],
)
def test_schema_errors_say_what_and_where(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(psl.SchemaError) as info:
        psl.load(text)
    assert message in info.value.reason
    assert (info.value.line, info.value.column) == (line, column)


def test_comments_map_and_composite_unique_names_are_understood() -> None:
    schema = psl.load(
        """
        /// a documented model
        model Seat { // trailing comment
          row    Int
          number Int
          hall   String @map("hall_name")
          @@id([row, number], name: "position")
          @@unique([hall, row], name: "hallRow")
          @@index([hall])
          @@map("seats")
        }
        """
    )
    seat = schema.models["Seat"]
    assert seat.table == "seats" and seat.fields["hall"].column == "hall_name"
    assert [k.name for k in seat.unique_keys()] == ["position", "hallRow"]


psl_text = st.text(
    alphabet=st.sampled_from(list('model enum{}()[]@=?:,"\n Int String id Post x1 /.\\')), max_size=120
)


@settings(max_examples=300, deadline=None)
@given(psl_text)
def test_the_parser_fails_only_with_a_positioned_schema_error(text: str) -> None:
    try:
        psl.load(text)
    except psl.SchemaError as exc:
        assert exc.line >= 1 and exc.column >= 1


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(RICH_PRISMA) - 1), st.sampled_from(["{", "}", "@", '"', "\n", "(", "x", ""]))
def test_a_mangled_real_schema_fails_cleanly(position: int, insert: str) -> None:
    try:
        psl.load(RICH_PRISMA[:position] + insert + RICH_PRISMA[position + 1 :])
    except psl.SchemaError as exc:
        assert exc.line >= 1
