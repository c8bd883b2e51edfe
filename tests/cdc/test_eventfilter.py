"""The edge's in-memory filter agrees with SQL on what a `where` selects.

The oracle is SQLite (stdlib): every generated filter is also rendered as a WHERE clause with bind
parameters and evaluated on the same row, NULLs included.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwcontract import eventfilter
from bwcontract.eventfilter import FilterError, matches, validate

ints = st.integers(-3, 3)
texts = st.text(alphabet="abAB", min_size=0, max_size=3)
records = st.fixed_dictionaries({"a": st.none() | ints, "s": st.none() | texts})


def int_condition() -> st.SearchStrategy[Any]:
    ops = st.sampled_from(["equals", "not", "lt", "lte", "gt", "gte"])
    single = st.builds(lambda op, v: {op: v}, ops, ints)
    lists = st.builds(lambda op, vs: {op: vs}, st.sampled_from(["in", "notIn"]), st.lists(ints, max_size=3))
    return st.one_of(ints, st.none(), single, lists, st.just({"not": None}), st.just({"equals": None}))


def text_condition() -> st.SearchStrategy[Any]:
    ops = st.sampled_from(["equals", "contains", "startsWith", "endsWith", "lt", "gt"])
    single = st.builds(
        lambda op, v, insensitive: {op: v, **({"mode": "insensitive"} if insensitive else {})},
        ops,
        texts,
        st.booleans(),
    )
    negated = st.builds(
        lambda op, v, insensitive: {"not": {op: v}, **({"mode": "insensitive"} if insensitive else {})},
        ops,
        texts,
        st.booleans(),
    )
    return st.one_of(texts, single, negated)


leaf = st.one_of(
    st.builds(lambda c: {"a": c}, int_condition()),
    st.builds(lambda c: {"s": c}, text_condition()),
)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda items: {"AND": items}, st.lists(inner, max_size=3)),
        st.builds(lambda items: {"OR": items}, st.lists(inner, max_size=3)),
        st.builds(lambda items: {"NOT": items}, st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    ),
    max_leaves=8,
)


class Sql:
    """A filter as SQLite WHERE text with its parameters."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        self.params.append(value)
        return f"?{len(self.params)}"

    def where(self, where: dict[str, Any]) -> str:
        parts = [self.node(name, spec) for name, spec in where.items()]
        return "(" + " AND ".join(parts) + ")" if parts else "1"

    def node(self, name: str, spec: Any) -> str:
        if name == "AND":
            items = [self.where(i) for i in spec]
            return "(" + " AND ".join(items) + ")" if items else "1"
        if name == "OR":
            items = [self.where(i) for i in spec]
            return "(" + " OR ".join(items) + ")" if items else "0"
        if name == "NOT":
            return "(" + " AND ".join(f"NOT {self.where(i)}" for i in spec) + ")"
        if not isinstance(spec, dict):
            return f"{name} IS NULL" if spec is None else f"{name} = {self.p(spec)}"
        return (
            "("
            + " AND ".join(self.op(name, op, v, spec.get("mode")) for op, v in spec.items() if op != "mode")
            + ")"
        )

    def op(self, column: str, op: str, value: Any, mode: str | None) -> str:
        col, fold = (
            (f"lower({column})", lambda v: v.lower()) if mode == "insensitive" else (column, lambda v: v)
        )
        if op == "equals":
            return f"{column} IS NULL" if value is None else f"{col} = {self.p(fold(value))}"
        if op == "not":
            if isinstance(value, dict):
                inner = " AND ".join(self.op(column, o, v, mode) for o, v in value.items() if o != "mode")
                return f"NOT ({inner})"
            return f"{column} IS NOT NULL" if value is None else f"{col} <> {self.p(fold(value))}"
        if op in ("in", "notIn"):
            if not value:
                return "0" if op == "in" else "1"
            items = ", ".join(self.p(v) for v in value)
            return f"{column} {'IN' if op == 'in' else 'NOT IN'} ({items})"
        symbols = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
        if op in symbols:
            return f"{col} {symbols[op]} {self.p(fold(value))}"
        needle = self.p(fold(value))
        test = {
            "contains": f"instr({col}, {needle}) > 0",
            "startsWith": f"substr({col}, 1, length({needle})) = {needle}",
            "endsWith": f"substr({col}, length({col}) - length({needle}) + 1) = {needle}",
        }[op]
        return f"(CASE WHEN {column} IS NULL THEN NULL ELSE {test} END)"


def sql_verdict(where: dict[str, Any], record: dict[str, Any]) -> bool | None:
    rendered = Sql()
    clause = rendered.where(where)
    db = sqlite3.connect(":memory:")
    a, s = rendered.p(record["a"]), rendered.p(record["s"])
    value = db.execute(
        f"SELECT CASE WHEN {clause} THEN 1 WHEN NOT {clause} THEN 0 END FROM (SELECT {a} AS a, {s} AS s)",
        rendered.params,
    ).fetchone()[0]
    return None if value is None else bool(value)


@settings(max_examples=250, deadline=None)
@given(filters, records)
def test_a_filter_selects_a_record_exactly_when_sql_would(
    where: dict[str, Any], record: dict[str, Any]
) -> None:
    validate(where, {"a", "s"})
    assert matches(where, record) is (sql_verdict(where, record) is True)


@settings(max_examples=200, deadline=None)
@given(filters, records, st.sampled_from(["a", "s"]))
def test_a_partial_record_is_refused_only_when_no_value_of_the_missing_field_could_match(
    where: dict[str, Any], record: dict[str, Any], missing: str
) -> None:
    partial = {k: v for k, v in record.items() if k != missing}
    if matches(where, partial) is False:
        candidates = [None, -3, 0, 3] if missing == "a" else [None, "", "a", "ab", "B"]
        assert not any(sql_verdict(where, {**record, missing: c}) for c in candidates)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)


@given(json_values)
def test_validation_either_accepts_a_filter_that_then_evaluates_or_refuses_it(where: Any) -> None:
    try:
        validate(where)
    except FilterError:
        return
    matches(where, {"a": 1, "s": "x"})
    matches(where, {})


def test_tagged_values_compare_in_their_own_types() -> None:
    record = {
        "at": {"$type": "DateTime", "value": "2024-05-01T10:00:00.000Z"},
        "big": {"$type": "BigInt", "value": "9007199254740993"},
        "price": {"$type": "Decimal", "value": "10.50"},
        "doc": {"$type": "Json", "value": '{"b": 1, "a": [2]}'},
    }
    assert matches({"at": {"gt": "2024-05-01T09:59:59+00:00"}}, record) is True
    assert matches({"at": {"lt": {"$type": "DateTime", "value": "2024-01-01T00:00:00Z"}}}, record) is False
    assert matches({"big": 9007199254740993}, record) is True
    assert matches({"big": {"gte": "9007199254740994"}}, record) is False
    assert matches({"price": {"equals": "10.5"}}, record) is True
    assert matches({"doc": {"equals": {"a": [2], "b": 1}}}, record) is True


def test_a_condition_on_a_field_the_record_lacks_may_match() -> None:
    assert matches({"email": "a@x.io"}, {"id": 1}) is None
    assert matches({"id": 2, "email": "a@x.io"}, {"id": 1}) is False


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"a": {"like": 1}}, "unknown operator `like`"),
        ({"a": {"in": 3}}, "in takes a list"),
        ({"OR": {"a": 1}}, "OR takes a list"),
        ({"zzz": 1}, "unknown field `zzz`"),
        ({"s": {"contains": 3}}, "contains takes a string"),
        ({"s": {"equals": [1]}}, "a value is a string"),
        ({"s": {"mode": "loud", "equals": "x"}}, "mode is"),
        ({"s": {"not": {"equals": "x", "mode": "insensitive"}}}, "mode goes beside"),
        ({"a": {}}, "an empty condition"),
    ],
)
def test_malformed_filters_are_refused_with_the_place_named(where: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        validate(where, {"a", "s"})


def test_filters_are_bounded_in_size_and_depth() -> None:
    wide = {"OR": [{"a": i} for i in range(eventfilter.MAX_NODES + 1)]}
    with pytest.raises(FilterError, match="more than"):
        validate(wide)
    deep: dict[str, Any] = {"a": 1}
    for _ in range(eventfilter.MAX_DEPTH + 2):
        deep = {"NOT": deep}
    with pytest.raises(FilterError, match="nested too deeply"):
        validate(json.loads(json.dumps(deep)))
