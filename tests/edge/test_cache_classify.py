"""What the edge decides from a request alone: cacheable or not, key material, guessed writes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwedge.cache.classify import KnownShapes, Shape, shape_of
from bwedge.http import EdgeRequest, Headers
from bwedge.routes import classify

HASH = "a98a5835bb4906afd668e03bca0438e0926d4b1e8c7553f5d5a3e0bac90c3c06"
READ = {
    "modelName": "Post",
    "action": "findMany",
    "query": {"arguments": {}, "selection": {"$scalars": True}},
}
PLAN_READ = {"model": "Post", "operation": "findMany", "plan": {"type": "query", "args": {}}, "params": {}}


def shape(path: str, body: Any, **headers: str) -> Shape:
    route = classify("POST", path.partition("?")[0])
    assert route is not None
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return shape_of(route, EdgeRequest("POST", f"http://edge.test{path}", Headers(headers), raw))


@pytest.mark.parametrize(
    ("path", "body", "reason", "guessed"),
    [
        ("/v1/query", {**READ, "action": "createOne"}, "write", ("m:Post",)),
        ("/v1/query", {"action": "deleteMany"}, "write", ("*",)),
        ("/v1/query", {**READ, "action": "somethingNew"}, "write", ("m:Post",)),
        ("/v1/query", {"action": "queryRaw", "query": {}}, "raw", ("*",)),
        (f"/6.19.3/{HASH}/graphql", {"batch": [READ, {**READ, "action": "updateOne"}]}, "batch", ("m:Post",)),
        (f"/6.19.3/{HASH}/graphql", {"batch": [READ, {"action": "executeRaw"}]}, "batch", ("*",)),
        (f"/6.19.3/{HASH}/graphql", {"batch": [READ]}, "batch", ()),
        ("/query", {**PLAN_READ, "operation": "createOne"}, "write", ("m:Post",)),
        ("/query", {"operation": "executeRaw", "plan": {}}, "raw", ("*",)),
        ("/transaction/o1~a/query", PLAN_READ, "transaction", ()),
        (f"/6.19.3/{HASH}/itx/o1~a/graphql", {**READ, "action": "createOne"}, "transaction", ("m:Post",)),
        ("/v1/query", b"{nope", "not-json", ()),
        ("/v1/query", [READ], "not-json", ()),
    ],
)
def test_what_is_not_cacheable_and_what_it_may_write(
    path: str, body: Any, reason: str, guessed: tuple[str, ...]
) -> None:
    found = shape(path, body)
    assert (found.cacheable, found.reason, found.guessed_writes) == (False, reason, guessed)


def test_a_query_sent_with_a_transaction_header_is_never_cacheable() -> None:
    assert shape(f"/6.19.3/{HASH}/graphql", READ, **{"x-transaction-id": "t1"}).reason == "transaction"


def test_reads_of_every_protocol_are_cacheable() -> None:
    for path, body in (("/v1/query", READ), (f"/6.19.3/{HASH}/graphql", READ), ("/query", PLAN_READ)):
        found = shape(path, body)
        assert (found.cacheable, found.model) == (True, "Post")


def test_the_protocol_schema_hash_and_plan_format_are_part_of_the_identity() -> None:
    materials = {
        shape("/v1/query", READ).material,
        shape(f"/6.19.3/{HASH}/graphql", READ).material,
        shape(f"/6.19.3/{'b' * 64}/graphql", READ).material,
        shape(f"/6.19.4/{HASH}/graphql", READ).material,
        shape("/query", PLAN_READ, **{"prisma-engine-hash": "7.10.1"}).material,
        shape("/query", PLAN_READ, **{"prisma-engine-hash": "7.11.0"}).material,
        shape("/v1/query", READ, **{"x-capture-telemetry": "info, query"}).material,
        shape("/v1/query?database=alpha", READ).material,
    }
    assert len(materials) == 8


def test_the_api_key_and_sql_comments_are_not_part_of_the_identity() -> None:
    assert shape("/v1/query?api_key=a", READ).material == shape("/v1/query?api_key=b", READ).material
    with_comments = {**PLAN_READ, "comments": {"traceparent": "00-abc"}}
    assert shape("/query", with_comments).material == shape("/query", PLAN_READ).material


def test_plan_bodies_keep_their_order_json_bodies_do_not() -> None:
    flipped_plan = dict(reversed(list(PLAN_READ.items())))
    assert shape("/query", flipped_plan).material != shape("/query", PLAN_READ).material
    flipped = dict(reversed(list(READ.items())))
    assert shape("/v1/query", flipped).material == shape("/v1/query", READ).material


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"modelName": json_values, "action": st.sampled_from(["findMany", "createOne", "queryRaw", "x"])},
        optional={"query": json_values, "batch": st.lists(json_values, max_size=3)},
    ),
)


@given(st.sampled_from(["/v1/query", f"/6.19.3/{HASH}/graphql", "/query", "/transaction/o1~a/query"]), bodies)
def test_any_body_gets_a_shape_without_raising(path: str, body: Any) -> None:
    found = shape(path, body)
    assert found.cacheable == (found.reason == "")
    assert not found.cacheable or found.material


def test_remembered_shapes_are_the_shapes_and_every_input_of_one_is_in_its_key() -> None:
    known = KnownShapes()
    cases = [
        ("/v1/query", READ, {}),
        ("/v1/query", {**READ, "action": "createOne"}, {}),
        ("/v1/query?x=1", READ, {}),
        ("/v1/query", READ, {"x-capture-telemetry": "1"}),
        ("/v1/query", READ, {"x-transaction-id": "t1"}),
        ("/query", PLAN_READ, {}),
        ("/query", PLAN_READ, {"prisma-engine-hash": "abc"}),
        (f"/6.19.3/{HASH}/graphql", READ, {}),
    ]
    for _ in range(2):  # the first round classifies, the second remembers
        for path, body, headers in cases:
            route = classify("POST", path.partition("?")[0])
            assert route is not None
            request = EdgeRequest(
                "POST", f"http://edge.test{path}", Headers(headers), json.dumps(body).encode()
            )
            assert known.of(route, request) == shape_of(route, request)
    assert len(known._known) == len(cases)


def test_a_shape_without_material_differs_only_in_it_and_is_remembered_apart() -> None:
    known = KnownShapes()
    write = {**READ, "action": "createOne"}
    for path, body in (("/v1/query", READ), ("/query", PLAN_READ), ("/v1/query", write)):
        route = classify("POST", path)
        assert route is not None
        request = EdgeRequest("POST", f"http://edge.test{path}", Headers({}), json.dumps(body).encode())
        full, bare = shape_of(route, request), shape_of(route, request, with_material=False)
        assert bare == dataclasses.replace(full, material="")
        # A request with a cache strategy after one without still gets its key material.
        assert known.of(route, request, with_material=False) == bare
        assert known.of(route, request) == full
