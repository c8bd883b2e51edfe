"""Canonical query encoding and cache keys: order of arguments never matters, any value does."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bwedge.cache.key import cache_key, canonical, fingerprint

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def typed(value: Any) -> Any:
    """A comparable form where 1, 1.0, True and "1" all differ and object key order does not matter."""
    if isinstance(value, dict):
        return ("obj", frozenset((k, typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(typed(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def shuffled(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shuffled(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [shuffled(v) for v in value]
    return value


def without_order_by(value: Any) -> bool:
    if isinstance(value, dict):
        return "orderBy" not in value and all(without_order_by(v) for v in value.values())
    if isinstance(value, list):
        return all(without_order_by(v) for v in value)
    return True


@given(json_values, json_values)
def test_two_values_encode_alike_exactly_when_they_are_equal(a: Any, b: Any) -> None:
    if without_order_by(a) and without_order_by(b):
        assert (canonical(a) == canonical(b)) == (typed(a) == typed(b))


@given(json_values)
def test_object_key_order_never_changes_the_encoding(value: Any) -> None:
    if without_order_by(value):
        assert canonical(shuffled(value)) == canonical(value)


@given(json_values)
def test_plans_keep_every_objects_order(value: Any) -> None:
    again = shuffled(value)
    assert (canonical(again, ordered=True) == canonical(value, ordered=True)) == (
        json.dumps(again) == json.dumps(value)
    )


def test_argument_order_does_not_matter() -> None:
    a = {"where": {"id": 1, "email": "a@x.io"}, "take": 5}
    b = {"take": 5, "where": {"email": "a@x.io", "id": 1}}
    assert canonical(a) == canonical(b)


def test_values_of_every_type_are_told_apart() -> None:
    values = [1, 1.0, True, "1", None, "null", [1], {"1": 1}, 0, False, "", [], {}, -0.0, 0.0, "a", "b"]
    encodings = {canonical(v) for v in values}
    assert len(encodings) == len(values)


def test_order_by_objects_keep_their_order_because_it_sorts_differently() -> None:
    by_a = {"orderBy": {"a": "asc", "b": "desc"}, "where": {"x": 1, "y": 2}}
    by_b = {"orderBy": {"b": "desc", "a": "asc"}, "where": {"y": 2, "x": 1}}
    assert canonical(by_a) != canonical(by_b)
    assert canonical({"where": {"y": 2, "x": 1}, "orderBy": [{"a": "asc"}]}) == canonical(
        {"orderBy": [{"a": "asc"}], "where": {"x": 1, "y": 2}}
    )


def test_deeply_nested_bodies_encode_without_recursion() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = {"a": [deep]}
    assert canonical(deep).count("[") == 5000


def test_the_key_depends_on_database_epoch_versions_and_material() -> None:
    base = cache_key("db1", "q", 7, [("*", 0), ("t:a", 3)])
    assert base == cache_key("db1", "q", 7, [("t:a", 3), ("*", 0)])
    assert len(base) == 64
    assert (
        len(
            {
                base,
                cache_key("db2", "q", 7, [("*", 0), ("t:a", 3)]),
                cache_key("db1", "r", 7, [("*", 0), ("t:a", 3)]),
                cache_key("db1", "q", 8, [("*", 0), ("t:a", 3)]),
                cache_key("db1", "q", 7, [("*", 1), ("t:a", 3)]),
                cache_key("db1", "q", 7, [("*", 0), ("t:a", 4)]),
                cache_key("db1", "q", 7, [("*", 0)]),
            }
        )
        == 7
    )


@given(json_values, json_values)
def test_fingerprints_of_unequal_values_never_match(a: Any, b: Any) -> None:
    raw_a, raw_b = json.dumps(a).encode(), json.dumps(b).encode()
    if typed(a) != typed(b):
        assert fingerprint(a, raw_a) != fingerprint(b, raw_b)
        assert fingerprint(a, raw_a, ordered=True) != fingerprint(b, raw_b, ordered=True)
    elif without_order_by(a):
        assert fingerprint(shuffled(a), json.dumps(shuffled(a)).encode()) == fingerprint(b, raw_b)


def test_fingerprints_fall_back_to_the_canonical_form_where_order_matters() -> None:
    ordered = {"orderBy": {"b": "asc", "a": "desc"}}
    assert fingerprint(ordered, json.dumps(ordered).encode()) == "c" + canonical(ordered)
    escaped = b'{"order\\u0042y": {"b": "asc", "a": "desc"}}'
    assert fingerprint(json.loads(escaped), escaped) == "c" + canonical(ordered)
    plain = {"where": {"b": 1, "a": 2}}
    assert fingerprint(plain, json.dumps(plain).encode()) == 's{"where":{"a":2,"b":1}}'
