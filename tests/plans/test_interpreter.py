"""The interpreter's pure nodes (those the client test does not reach with our schema are covered
here): bindings, joins, validation, diffs, record initialisation and arithmetic, in-memory paging."""

from __future__ import annotations

import decimal
from typing import Any

import pytest

from origin.errors import KnownRequestError
from origin.plans.errors import PlanError
from origin.plans.executor import Database
from origin.plans.generators import Generators
from origin.plans.interpreter import Interpreter


def value(v: Any) -> dict[str, Any]:
    return {"type": "value", "args": v}


def get(name: str) -> dict[str, Any]:
    return {"type": "get", "args": {"name": name}}


def let(expr: dict[str, Any], **bindings: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "let",
        "args": {"bindings": [{"name": k, "expr": v} for k, v in bindings.items()], "expr": expr},
    }


async def run(plan: dict[str, Any], **params: Any) -> Any:
    db = Database(conn=None, database_id="d", read_only=False, in_transaction=False)  # type: ignore[arg-type]
    return await Interpreter(db, Generators()).run(plan, params)


USERS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
POSTS = [{"id": 10, "authorId": 1}, {"id": 11, "authorId": 1}, {"id": 12, "authorId": 3}]


async def test_let_binds_in_order_and_get_reads_them() -> None:
    plan = let(get("b"), a=value(1), b={"type": "sum", "args": [get("a"), value(2)]})
    assert await run(plan) == 3


async def test_params_and_generators_resolve_inside_values() -> None:
    plan = value(
        [
            {"prisma__type": "param", "prisma__value": {"name": "%1"}},
            {"prisma__type": "generatorCall", "prisma__value": {"name": "product", "args": [[1, 2], ["x"]]}},
        ]
    )
    assert await run(plan, **{"%1": "p"}) == ["p", [[1, "x"], [2, "x"]]]


async def test_join_attaches_children_by_the_on_fields() -> None:
    plan = {
        "type": "join",
        "args": {
            "parent": value([dict(u) for u in USERS]),
            "children": [
                {
                    "child": value(POSTS),
                    "on": [["id", "authorId"]],
                    "parentField": "@nested$posts",
                    "isRelationUnique": False,
                },
                {
                    "child": value(POSTS[:1]),
                    "on": [["id", "authorId"]],
                    "parentField": "first",
                    "isRelationUnique": True,
                },
            ],
            "canAssumeStrictEquality": True,
        },
    }
    assert await run(plan) == [
        {"id": 1, "name": "a", "@nested$posts": POSTS[:2], "first": POSTS[0]},
        {"id": 2, "name": "b", "@nested$posts": [], "first": None},
    ]


async def test_map_field_unique_required_and_first_non_empty() -> None:
    assert await run({"type": "mapField", "args": {"field": "id", "records": value(USERS)}}) == [1, 2]
    assert await run({"type": "unique", "args": value(USERS[:1])}) == USERS[0]
    assert await run({"type": "unique", "args": value([])}) is None
    with pytest.raises(PlanError, match="at most one record"):
        await run({"type": "unique", "args": value(USERS)})
    with pytest.raises(PlanError, match="requires"):
        await run({"type": "required", "args": value([])})
    plan = let(
        {"type": "getFirstNonEmpty", "args": {"names": ["a", "b", "c"]}},
        a=value([]),
        b=value(None),
        c=value([5]),
    )
    assert await run(plan) == [5]


async def test_concat_reverse_and_sum() -> None:
    assert await run({"type": "concat", "args": [value([1]), value([2, 3]), value(None)]}) == [1, 2, 3]
    assert await run({"type": "reverse", "args": value([1, 2, 3])}) == [3, 2, 1]
    assert await run({"type": "sum", "args": [value(2), value(3), value("4")]}) == 9


async def test_validate_raises_the_error_its_identifier_names() -> None:
    plan = {
        "type": "validate",
        "args": {
            "expr": value([]),
            "rules": [{"type": "rowCountNeq", "args": 0}],
            "errorIdentifier": "RELATION_VIOLATION",
            "context": {"relation": "PostToUser", "modelA": "Post", "modelB": "User"},
        },
    }
    with pytest.raises(KnownRequestError) as raised:
        await run(plan)
    assert raised.value.code == "P2014"
    assert raised.value.message == (
        "The change you are trying to make would violate the required relation 'PostToUser' between the "
        "`Post` and `User` models."
    )
    plan["args"]["expr"] = value(3)
    plan["args"]["rules"] = [{"type": "affectedRowCountEq", "args": 3}]
    assert await run(plan) == 3


async def test_if_picks_a_branch_by_its_rule() -> None:
    plan = {
        "type": "if",
        "args": {
            "value": value([1]),
            "rule": {"type": "rowCountEq", "args": 1},
            "then": value("one"),
            "else": value("other"),
        },
    }
    assert await run(plan) == "one"
    plan["args"]["rule"] = {"type": "never"}
    assert await run(plan) == "other"


async def test_diff_keeps_records_missing_from_the_other_side() -> None:
    plan = {"type": "diff", "args": {"from": value(POSTS), "to": value([{"id": 11}]), "fields": ["id"]}}
    assert await run(plan) == [POSTS[0], POSTS[2]]
    assert await run(
        {"type": "diff", "args": {"from": value([1, 2, 3]), "to": value([2]), "fields": []}}
    ) == [1, 3]


async def test_initialize_and_map_record() -> None:
    init = {
        "type": "initializeRecord",
        "args": {
            "expr": value({"lastInsertId": "7"}),
            "fields": {"id": {"type": "lastInsertId"}, "n": {"type": "value", "value": 5}},
        },
    }
    assert await run(init) == {"id": "7", "n": 5}
    ops = {
        "n": {"type": "add", "value": 2},
        "f": {"type": "multiply", "value": 1.5},
        "d": {"type": "divide", "value": 2},
        "s": {"type": "set", "value": "x"},
        "m": {"type": "subtract", "value": "0.25"},
    }
    mapped = {
        "type": "mapRecord",
        "args": {"expr": value({"n": 1, "f": 2.0, "d": 7, "s": "y", "m": "1.00"}), "fields": ops},
    }
    result = await run(mapped)
    assert result == {"n": 3, "f": 3.0, "d": 3, "s": "x", "m": decimal.Decimal("0.75")}


async def test_process_pages_per_parent_and_in_nested_relations() -> None:
    rows = [{"a": 1, "v": i} for i in range(4)] + [{"a": 2, "v": i} for i in range(3)]
    ops = {
        "pagination": {"cursor": None, "take": 2, "skip": 1},
        "distinct": None,
        "reverse": False,
        "linkingFields": ["a"],
        "nested": {},
    }
    assert await run({"type": "process", "args": {"expr": value(rows), "operations": ops}}) == [
        {"a": 1, "v": 1},
        {"a": 1, "v": 2},
        {"a": 2, "v": 1},
        {"a": 2, "v": 2},
    ]
    nested = {
        "pagination": None,
        "distinct": None,
        "reverse": False,
        "linkingFields": None,
        "nested": {
            "posts": {
                "pagination": {"cursor": {"id": 11}, "take": -1, "skip": None},
                "distinct": None,
                "reverse": False,
                "linkingFields": None,
                "nested": {},
            }
        },
    }
    parent = [{"id": 1, "posts": list(POSTS)}]
    assert await run({"type": "process", "args": {"expr": value(parent), "operations": nested}}) == [
        {"id": 1, "posts": [POSTS[1]]}
    ]


async def test_distinct_then_reverse() -> None:
    ops = {"pagination": None, "distinct": ["t"], "reverse": True, "linkingFields": None, "nested": {}}
    rows = [{"t": "x"}, {"t": "x"}, {"t": "y"}]
    assert await run({"type": "process", "args": {"expr": value(rows), "operations": ops}}) == [
        {"t": "y"},
        {"t": "x"},
    ]


async def test_unbound_names_and_bad_shapes_are_plan_errors() -> None:
    with pytest.raises(PlanError, match="before binding"):
        await run(get("nope"))
    with pytest.raises(PlanError, match="does not bind"):
        await run(value({"prisma__type": "param", "prisma__value": {"name": "%3"}}))
    with pytest.raises(PlanError, match="malformed"):
        await run({"type": "join", "args": {}})
