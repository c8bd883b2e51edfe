"""Any JSON body that reaches the engine either compiles or fails with a validation error (400):
never another exception (a 500), whatever the client sends."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from origin.engine import psl
from origin.engine.engine import prepare
from origin.engine.program import check_leaves
from origin.engine.request import parse
from origin.errors import BreakwaterError
from tests.engine.conftest import RICH_PRISMA

SCHEMA = psl.load(RICH_PRISMA)
ACTIONS = [
    "findMany",
    "findUnique",
    "findFirstOrThrow",
    "createOne",
    "createMany",
    "updateOne",
    "updateMany",
    "upsertOne",
    "deleteOne",
    "deleteMany",
    "aggregate",
    "groupBy",
    "createManyAndReturn",
    "nope",
]
KEYS = [
    "where",
    "data",
    "select",
    "selection",
    "arguments",
    "orderBy",
    "take",
    "skip",
    "cursor",
    "distinct",
    "by",
    "having",
    "create",
    "update",
    "connect",
    "connectOrCreate",
    "disconnect",
    "set",
    "delete",
    "deleteMany",
    "updateMany",
    "upsert",
    "createMany",
    "some",
    "every",
    "none",
    "is",
    "isNot",
    "AND",
    "OR",
    "NOT",
    "equals",
    "not",
    "in",
    "notIn",
    "lt",
    "gt",
    "contains",
    "mode",
    "has",
    "hasSome",
    "isEmpty",
    "path",
    "increment",
    "push",
    "_count",
    "_avg",
    "_sum",
    "_min",
    "_max",
    "_all",
    "$scalars",
    "$type",
    "value",
    "id",
    "email",
    "name",
    "role",
    "posts",
    "author",
    "profile",
    "title",
    "views",
    "tags",
    "meta",
    "price",
    "categories",
    "followers",
    "manager",
    "userId_groupId",
    "userId",
    "groupId",
    "createdAt",
    "blob",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "asc",
            "desc",
            "insensitive",
            "ADMIN",
            "x",
            "2024-01-01T00:00:00Z",
            "BigInt",
            "DateTime",
            "Json",
            "Enum",
            "DbNull",
            "",
            "1",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=14,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["User", "Post", "Category", "Membership", "Profile", "Nope"]),
    st.sampled_from(ACTIONS),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
    st.one_of(st.just({"$scalars": True}), st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3)),
)
def test_a_query_compiles_or_fails_with_a_validation_error(
    model: str, action: str, arguments: Any, selection: Any
) -> None:
    body = {"modelName": model, "action": action, "query": {"arguments": arguments, "selection": selection}}
    try:
        program, env = prepare(SCHEMA, parse(body))
        check_leaves(program.steps, env)
    except BreakwaterError as exc:
        assert exc.status == 400
