"""Query shapes: values come out, structure stays in, and the skeleton's slots give the values back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from origin.engine.fingerprint import MAX_QUERY_DEPTH, Slot, fingerprint, skeleton
from origin.engine.params import _fill
from origin.errors import QueryValidationError

KEYS = [
    "where",
    "id",
    "take",
    "skip",
    "orderBy",
    "mode",
    "selection",
    "arguments",
    "in",
    "data",
    "$type",
    "value",
    "_relevance",
    "search",
    "sort",
    "x",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=3)
)
bodies = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=250, deadline=None)
@given(bodies)
@example({"$type": "", "value": None})  # a tagged leaf keeps its tag (a Json value's own data)
@example({"data": {"doc": {"a": {"$type": "Note", "value": 1}}}})
def test_the_skeleton_and_the_leaves_rebuild_the_query(body: Any) -> None:
    _key, leaves = fingerprint(body)
    shaped = skeleton(body)
    assert _fill(shaped, leaves) == body
    slots: list[Slot] = []

    def collect(node: Any) -> None:
        if isinstance(node, Slot):
            slots.append(node)
        elif isinstance(node, dict):
            for v in node.values():
                collect(v)
        elif isinstance(node, list | tuple):
            for v in node:
                collect(v)

    collect(shaped)
    assert sorted(s.index for s in slots) == list(range(len(leaves)))


def test_values_leave_the_key_and_structure_stays() -> None:
    def key(body: Any) -> str:
        return fingerprint(body)[0]

    a = {"arguments": {"where": {"email": "a@x.io"}, "take": 5}, "selection": {"$scalars": True}}
    b = {"arguments": {"where": {"email": "b@y.io"}, "take": 9}, "selection": {"$scalars": True}}
    assert key(a) == key(b) and fingerprint(a)[1] == ["a@x.io", 5]
    for changed in (
        {"arguments": {"where": {"email": None}, "take": 5}, "selection": {"$scalars": True}},
        {"arguments": {"where": {"email": "a"}, "take": -5}, "selection": {"$scalars": True}},
        {"arguments": {"where": {"email": 1}, "take": 5}, "selection": {"$scalars": True}},
        {"arguments": {"where": {"name": "a"}, "take": 5}, "selection": {"$scalars": True}},
        {"arguments": {"where": {"email": "a"}, "take": 5}, "selection": {"$scalars": False}},
        {"arguments": {"where": {"email": {"$type": "DateTime", "value": "x"}}, "take": 5}, "selection": {}},
    ):
        assert key(changed) != key(a)
    assert key({"arguments": {"orderBy": {"id": "asc"}}}) != key({"arguments": {"orderBy": {"id": "desc"}}})
    assert key({"arguments": {"where": {"s": {"contains": "a", "mode": "insensitive"}}}}) != key(
        {"arguments": {"where": {"s": {"contains": "a", "mode": "default"}}}}
    )
    assert fingerprint({"arguments": {"where": {"id": {"in": [1, 2, 3]}}}})[1] == [[1, 2, 3]]


def test_a_relevance_search_is_a_value_and_its_fields_and_sort_are_structure() -> None:
    def order(fields: list[str], search: str, sort: str) -> dict[str, Any]:
        relevance = {"fields": fields, "search": search, "sort": sort}
        return {"arguments": {"orderBy": [{"_relevance": relevance}]}}

    key, leaves = fingerprint(order(["title"], "cat", "desc"))
    assert leaves == ["cat"] and key == fingerprint(order(["title"], "dog & bird", "desc"))[0]
    assert key != fingerprint(order(["title", "body"], "cat", "desc"))[0]
    assert key != fingerprint(order(["title"], "cat", "asc"))[0]
    assert skeleton(order(["title"], "cat", "desc"))["arguments"]["orderBy"][0]["_relevance"] == {
        "fields": ["title"],
        "search": Slot(0, "s"),
        "sort": "desc",
    }
    # Outside `_relevance`, a field that happens to be called `search` is ordered like any other.
    assert fingerprint({"arguments": {"orderBy": {"search": "asc"}}})[1] == []


def test_a_query_nests_at_most_max_query_depth_levels() -> None:
    def nested(levels: int) -> dict[str, Any]:
        node: dict[str, Any] = {"n": 1}
        for _ in range(levels - 1):
            node = {"AND": node}
        return node

    fingerprint(nested(MAX_QUERY_DEPTH))
    with pytest.raises(QueryValidationError) as refused:
        fingerprint(nested(MAX_QUERY_DEPTH + 1))
    assert refused.value.code == "P2009"
