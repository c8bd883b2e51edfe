"""templateSql rendering: placeholder numbering across a statement, tuples, tuple lists, and chunking
when a statement binds more values than Postgres accepts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.plans.errors import PlanError
from origin.plans.template import MAX_BIND_VALUES, render, render_chunks

FORMAT = {"prefix": "$", "hasNumbering": True}
P = {"type": "parameter"}
TUPLE = {"type": "parameterTuple", "itemPrefix": "", "itemSeparator": ",", "itemSuffix": ""}
ROWS = {
    "type": "parameterTupleList",
    "itemPrefix": "(",
    "itemSeparator": ",",
    "itemSuffix": ")",
    "groupSeparator": ",",
}
INT = {"arity": "scalar", "scalarType": "int"}


def chunk(text: str) -> dict[str, Any]:
    return {"type": "stringChunk", "chunk": text}


def test_placeholders_are_numbered_across_the_whole_statement() -> None:
    statement = render(
        [chunk("SELECT * FROM t WHERE a = "), P, chunk(" AND b IN "), TUPLE, chunk(" LIMIT "), P],
        ["x", [1, 2, 3], "10"],
        [{"scalarType": "string"}, INT, {"scalarType": "bigint"}],
        FORMAT,
    )
    assert statement.sql == "SELECT * FROM t WHERE a = $1 AND b IN ($2,$3,$4) LIMIT $5"
    assert statement.values == ["x", 1, 2, 3, "10"]
    assert statement.scalar_types == ["string", "int", "int", "int", "bigint"]


def test_an_empty_tuple_matches_nothing() -> None:
    statement = render([chunk("SELECT 1 WHERE a IN "), TUPLE], [[]], [INT], FORMAT)
    assert statement.sql == "SELECT 1 WHERE a IN (NULL)"
    assert statement.values == []


def test_a_tuple_list_renders_one_group_per_row() -> None:
    types = [{"arity": "tuple", "elements": [INT, {"arity": "scalar", "scalarType": "string"}]}]
    statement = render([chunk("INSERT INTO t (a, b) VALUES "), ROWS], [[[1, "x"], [2, "y"]]], types, FORMAT)
    assert statement.sql == "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4)"
    assert statement.values == [1, "x", 2, "y"]
    assert statement.scalar_types == ["int", "string", "int", "string"]


def test_unnumbered_placeholders_keep_their_prefix() -> None:
    statement = render(
        [chunk("SELECT "), P, chunk(", "), P], [1, 2], [INT, INT], {"prefix": "?", "hasNumbering": False}
    )
    assert statement.sql == "SELECT ?, ?"


def test_a_big_tuple_is_split_into_statements_under_the_limit() -> None:
    ids = list(range(70_000))
    statements = render_chunks(
        [chunk("SELECT * FROM t WHERE x = "), P, chunk(" AND id IN "), TUPLE],
        ["k", ids],
        [INT, INT],
        FORMAT,
        True,
    )
    assert len(statements) == 3
    assert all(len(s.values) <= MAX_BIND_VALUES for s in statements)
    assert [v for s in statements for v in s.values[1:]] == ids
    assert all(s.values[0] == "k" for s in statements)


def test_a_statement_that_cannot_be_chunked_is_refused() -> None:
    with pytest.raises(PlanError, match="at most 32767"):
        render_chunks([chunk("SELECT 1 WHERE id IN "), TUPLE], [list(range(40_000))], [INT], FORMAT, False)


def test_more_placeholders_than_arguments_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="more placeholders than arguments"):
        render([chunk("SELECT "), P], [], [], FORMAT)


fragments = st.lists(
    st.one_of(
        st.text(alphabet=" abc,()=", max_size=5).map(lambda t: ("chunk", t)),
        st.integers().map(lambda v: ("param", v)),
        st.lists(st.integers(), max_size=4).map(lambda v: ("tuple", v)),
    ),
    max_size=12,
)


@given(fragments)
def test_every_value_gets_the_next_placeholder_number(parts: list[tuple[str, Any]]) -> None:
    frags: list[dict[str, Any]] = []
    args: list[Any] = []
    for kind, value in parts:
        if kind == "chunk":
            frags.append(chunk(value))
        else:
            frags.append(P if kind == "param" else TUPLE)
            args.append(value)
    statement = render(frags, args, [INT] * len(args), FORMAT)
    numbers = [int(n) for n in re.findall(r"\$(\d+)", statement.sql)]
    assert numbers == list(range(1, len(statement.values) + 1))
