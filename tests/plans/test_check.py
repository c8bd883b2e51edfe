"""The plan check: unknown parts of a plan are named in a clear error (the version policy), malformed
plans are plan errors, and the tables a plan's SQL reads and writes are found."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from origin.fronts.prisma7 import CheckedPlans
from origin.plans.check import MAX_PLAN_DEPTH, TESTED_CLIENT_VERSIONS, check, tables_of
from origin.plans.errors import PlanError, PlanTooDeep, UnsupportedPlan
from tests.plans.plans import INSERT_NOTE, SELECT_NOTES, raw


def test_the_tested_client_versions_are_recorded() -> None:
    assert TESTED_CLIENT_VERSIONS == ("7.10.1",)


@pytest.mark.parametrize(
    ("plan", "what"),
    [
        ({"type": "teleport"}, "node `teleport`"),
        (
            {
                "type": "value",
                "args": {"prisma__type": "generatorCall", "prisma__value": {"name": "snowflake", "args": []}},
            },
            "generator `snowflake`",
        ),
        ({"type": "value", "args": {"prisma__type": "lazy", "prisma__value": {}}}, "value kind `lazy`"),
        (
            {
                "type": "query",
                "args": {"type": "templateSql", "fragments": [{"type": "paramList"}], "args": []},
            },
            "SQL fragment `paramList`",
        ),
        ({"type": "query", "args": {"type": "prepared"}}, "query kind `prepared`"),
        (
            {
                "type": "validate",
                "args": {
                    "expr": {"type": "unit"},
                    "rules": [{"type": "rowCountGt"}],
                    "errorIdentifier": "MISSING_RECORD",
                },
            },
            "data rule `rowCountGt`",
        ),
        (
            {
                "type": "validate",
                "args": {"expr": {"type": "unit"}, "rules": [], "errorIdentifier": "NEW_ERROR"},
            },
            "validation error `NEW_ERROR`",
        ),
        (
            {
                "type": "dataMap",
                "args": {"expr": {"type": "unit"}, "structure": {"type": "tuple"}, "enums": {}},
            },
            "result structure `tuple`",
        ),
        (
            {"type": "mapRecord", "args": {"expr": {"type": "unit"}, "fields": {"a": {"type": "modulo"}}}},
            "field operation `modulo`",
        ),
    ],
)
def test_unknown_parts_are_named_with_the_supported_versions(plan: dict[str, Any], what: str) -> None:
    with pytest.raises(UnsupportedPlan) as raised:
        check({"type": "seq", "args": [{"type": "unit"}, plan]}, "7.11.0")
    assert f"Prisma Client 7.11.0 sent a query plan with the {what}" in raised.value.message
    assert "Breakwater runs the plans of Prisma Client 7.10.1." in raised.value.message
    assert raised.value.status == 400


def test_malformed_plans_are_plan_errors() -> None:
    for plan in ([], {"args": 1}, {"type": "let", "args": {}}, {"type": "seq", "args": [3]}):
        with pytest.raises(PlanError):
            check(plan, None)


def test_the_tables_of_a_plan_are_found_by_statement_kind() -> None:
    # A raw statement's tables are not guessed from its text: the executor adds the ones Postgres
    # locked for it after it runs (tests/origin/test_rawcodec.py).
    facts = check(
        {"type": "seq", "args": [INSERT_NOTE, SELECT_NOTES, raw("execute", 'UPDATE "User" SET a = 1')]}, None
    )
    assert facts.tables_written == {"Note"}
    assert facts.tables_read == {"Note"}
    assert facts.statements == 3


@pytest.mark.parametrize(
    ("sql", "read", "written"),
    [
        (
            'SELECT "t0"."id" FROM "public"."users" AS "t0" '
            'LEFT JOIN LATERAL (SELECT 1 FROM "public"."Post" AS "t1") AS x ON true',
            {"users", "Post"},
            set(),
        ),
        (
            'INSERT INTO "public"."_follows" ("B","A") VALUES ($1,$2) ON CONFLICT DO NOTHING',
            set(),
            {"_follows"},
        ),
        (
            'INSERT INTO "public"."Like" ("a") VALUES ($1) ON CONFLICT ("a") DO UPDATE SET "a" = 1',
            set(),
            {"Like"},
        ),
        (
            'UPDATE "public"."Post" SET "x" = $1 WHERE "id" IN (SELECT "id" FROM "public"."Comment")',
            {"Comment"},
            {"Post"},
        ),
        ('DELETE FROM "public"."Post" WHERE "id" = $1 RETURNING "id"', set(), {"Post"}),
        ('SELECT * FROM "public"."Post" WHERE "id" = $1 FOR UPDATE', {"Post"}, set()),
        (
            "select * from users u join orders on true where note = 'DELETE FROM secrets'",
            {"users", "orders"},
            set(),
        ),
        ('WITH gone AS (DELETE FROM "Note" RETURNING id) SELECT count(*) FROM gone', {"gone"}, {"Note"}),
        ('TRUNCATE TABLE "public"."Post"', set(), {"Post"}),
    ],
)
def test_tables_of(sql: str, read: set[str], written: set[str]) -> None:
    assert tables_of(sql) == (read, written)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "args", "expr", "name", "bindings", "rules", "fragments", "structure"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300)
@given(json_values)
def test_any_json_is_checked_or_refused_with_a_plan_error(plan: Any) -> None:
    try:
        check(plan, "7.10.1")
    except (PlanError, UnsupportedPlan):
        pass


def _lets(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "value", "args": 1}
    for _ in range(depth - 1):
        node = {"type": "let", "args": {"bindings": [], "expr": node}}
    return node


def test_plans_nest_at_most_max_plan_depth_nodes_deep() -> None:
    check(_lets(MAX_PLAN_DEPTH), None)
    with pytest.raises(PlanTooDeep) as refused:
        check(_lets(MAX_PLAN_DEPTH + 1), None)
    assert (refused.value.status, refused.value.code) == (400, "BW1302")


def test_a_plan_checked_before_gives_the_same_facts_and_a_failing_one_fails_every_time() -> None:
    checked = CheckedPlans()
    plan = {"type": "seq", "args": [INSERT_NOTE, SELECT_NOTES]}
    text = json.dumps(plan, separators=(",", ":"))
    first, shape = checked.check(text, plan, None)
    first.tables_read.add("Other")  # a run adds what raw statements touched: never to the memory
    again, shape_again = checked.check(text, plan, None)
    assert (again.tables_read, again.tables_written, again.statements) == ({"Note"}, {"Note"}, 2)
    assert shape_again == shape
    unknown = {"type": "seq", "args": [{"type": "unit"}, {"type": "teleport"}]}
    for _ in range(2):
        with pytest.raises(UnsupportedPlan):
            checked.check(json.dumps(unknown), unknown, None)
