"""The cache stage of the edge pipeline, end to end in-process: injected clock, the local runtime's
Cache API and TagVersions objects, a scripted origin. One module (over 400 lines) because its
scenarios share that in-process world and read best side by side."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwcontract import service
from bwedge.cache.settings import CacheSettings
from bwedge.errors import EdgeError
from bwedge.http import EdgeRequest, EdgeResponse, Headers
from tests.edge.cache_support import (
    CREATE_POST,
    FIND_POSTS,
    SERVICE_SECRET,
    Seen,
    data_of,
    key_for,
    make_cache_edge,
    rows_of,
    status_of,
)

KEY = key_for("db1")


async def test_a_cached_query_is_a_miss_then_fresh_then_stale_then_a_miss() -> None:
    edge = make_cache_edge()
    strategy = "max-age=10,stale-while-revalidate=20"
    first = await edge.send(FIND_POSTS, KEY, strategy)
    assert (first.status, status_of(first), data_of(first)) == (200, "miss", [{"db": "db1", "v": 1}])
    assert first.headers["x-breakwater-cache"] == "stored"
    assert first.headers["last-modified"] == "Thu, 01 Jan 1970 00:16:40 GMT"  # clock starts at 1000

    edge.clock.now += 9.9
    fresh = await edge.send(FIND_POSTS, KEY, strategy)
    assert (status_of(fresh), data_of(fresh), fresh.headers["age"]) == ("ttl", [{"db": "db1", "v": 1}], "9")
    assert fresh.headers["last-modified"] == first.headers["last-modified"]
    assert fresh.headers["x-origin"] == "yes" and fresh.body == first.body
    assert "x-breakwater-cache-meta" not in fresh.headers and "cache-control" not in fresh.headers
    assert edge.origin.calls() == 1 and edge.ctx.pending == []

    edge.clock.now += 0.2
    stale = await edge.send(FIND_POSTS, KEY, strategy)
    assert (status_of(stale), data_of(stale)) == ("swr", [{"db": "db1", "v": 1}])
    assert len(edge.ctx.pending) == 1  # the refresh runs after the response, via waitUntil
    await edge.ctx.drain()
    assert edge.origin.calls() == 2

    refreshed = await edge.send(FIND_POSTS, KEY, strategy)
    assert (status_of(refreshed), data_of(refreshed)) == ("ttl", [{"db": "db1", "v": 2}])

    edge.clock.now += 30.1
    gone = await edge.send(FIND_POSTS, KEY, strategy)
    assert (status_of(gone), data_of(gone)) == ("miss", [{"db": "db1", "v": 3}])


async def test_queries_without_a_strategy_or_with_no_cache_are_not_cached() -> None:
    edge = make_cache_edge()
    for cache in (None, "no-cache", "max-age=0", "public"):
        response = await edge.send(FIND_POSTS, KEY, cache)
        assert (status_of(response), response.headers["x-breakwater-cache"]) == ("none", "no-strategy")
        assert "last-modified" in response.headers
    assert edge.origin.calls() == 4 and len(edge.store) == 0


async def test_ttl_zero_with_swr_serves_stale_at_once_and_refreshes() -> None:
    edge = make_cache_edge()
    strategy = "max-age=0,stale-while-revalidate=60"
    assert status_of(await edge.send(FIND_POSTS, KEY, strategy)) == "miss"
    stale = await edge.send(FIND_POSTS, KEY, strategy)
    assert (status_of(stale), data_of(stale)) == ("swr", [{"db": "db1", "v": 1}])
    await edge.ctx.drain()
    again = await edge.send(FIND_POSTS, KEY, strategy)
    assert (status_of(again), data_of(again)) == ("swr", [{"db": "db1", "v": 2}])


async def test_each_request_judges_freshness_by_its_own_ttl() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY, "max-age=60")
    edge.clock.now += 5
    assert status_of(await edge.send(FIND_POSTS, KEY, "max-age=60")) == "ttl"
    assert status_of(await edge.send(FIND_POSTS, KEY, "max-age=2")) == "miss"


async def test_any_difference_in_the_query_is_another_entry_but_argument_order_is_not() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY)
    reordered = {"query": {"selection": {"$scalars": True}, "arguments": {"where": {"published": True}}}}
    reordered |= {"action": "findMany", "modelName": "Post"}
    assert status_of(await edge.send(reordered, KEY)) == "ttl"
    other = json.loads(json.dumps(FIND_POSTS))
    other["query"]["arguments"]["where"]["published"] = False
    assert status_of(await edge.send(other, KEY)) == "miss"
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="a")) == "miss"  # tags are part of the key
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="a")) == "ttl"


async def test_two_databases_never_share_an_entry() -> None:
    edge = make_cache_edge()
    one, two = key_for("db1"), key_for("db2", key_id="key2")
    assert data_of(await edge.send(FIND_POSTS, one)) == [{"db": "db1", "v": 1}]
    assert data_of(await edge.send(FIND_POSTS, two)) == [{"db": "db2", "v": 2}]
    hit_one, hit_two = await edge.send(FIND_POSTS, one), await edge.send(FIND_POSTS, two)
    assert (status_of(hit_one), data_of(hit_one)) == ("ttl", [{"db": "db1", "v": 1}])
    assert (status_of(hit_two), data_of(hit_two)) == ("ttl", [{"db": "db2", "v": 2}])


async def test_keys_of_one_database_share_its_entries_whatever_their_scope() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY)
    reader = key_for("db1", scope="read", key_id="key9")
    assert status_of(await edge.send(FIND_POSTS, reader)) == "ttl"


async def test_concurrent_misses_of_one_key_reach_the_origin_once() -> None:
    edge = make_cache_edge()
    edge.origin.gate = asyncio.Event()
    waiting = [asyncio.ensure_future(edge.send(FIND_POSTS, KEY)) for _ in range(5)]
    while edge.origin.calls() == 0:
        await asyncio.sleep(0)
    edge.origin.gate.set()
    answers = await asyncio.gather(*waiting)
    assert edge.origin.calls() == 1
    assert [status_of(a) for a in answers] == ["miss"] * 5
    assert {a.body for a in answers} == {answers[0].body}


async def test_a_failed_miss_is_shared_by_its_waiters_and_not_remembered() -> None:
    edge = make_cache_edge(answer=lambda seen: EdgeResponse.json(500, {"error": "boom"}))
    answers = await asyncio.gather(*(edge.send(FIND_POSTS, KEY) for _ in range(3)))
    assert [(a.status, status_of(a), a.headers["x-breakwater-cache"]) for a in answers] == [
        (500, "miss", "error")
    ] * 3
    assert edge.origin.calls() == 1
    edge.origin.answer = None
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"


async def test_json_protocol_errors_with_status_200_are_not_cached() -> None:
    failing = {"errors": [{"error": "x", "user_facing_error": {"error_code": "P2025", "message": "x"}}]}
    edge = make_cache_edge(answer=lambda seen: EdgeResponse.json(200, failing))
    first = await edge.send(FIND_POSTS, KEY)
    assert (status_of(first), first.headers["x-breakwater-cache"]) == ("miss", "error")
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"


async def test_a_body_over_the_limit_is_served_and_says_why_it_was_not_stored() -> None:
    edge = make_cache_edge(CacheSettings(max_entry_bytes=20))
    response = await edge.send(FIND_POSTS, KEY)
    assert response.status == 200 and data_of(response) == [{"db": "db1", "v": 1}]
    assert response.headers["x-breakwater-cache"] == f"too-large; size={len(response.body)}; limit=20"
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"


async def test_writes_raw_queries_and_batches_pass_through_uncached() -> None:
    edge = make_cache_edge()
    raw = {"action": "queryRaw", "query": {"arguments": {"query": "SELECT 1", "parameters": "[]"}}}
    batch = {"batch": [FIND_POSTS, FIND_POSTS]}
    for body, reason in ((CREATE_POST, "write"), (raw, "raw"), (batch, "batch"), (b"{not json", "not-json")):
        for _ in range(2):
            response = await edge.send(body, KEY)
            assert (status_of(response), response.headers["x-breakwater-cache"]) == ("none", reason)
    assert edge.origin.calls() == 8 and len(edge.store) == 0


async def test_malformed_strategies_and_tags_are_refused_before_the_origin() -> None:
    edge = make_cache_edge()
    cases = [
        ({"cache": "max-age=soon"}, "BW1203"),
        ({"tags": "has space"}, "BW1201"),
        ({"tags": "a" * 65}, "BW1201"),
        ({"tags": "a,b,c,d,e,f"}, "BW1202"),
    ]
    for kwargs, code in cases:
        response = await edge.send(FIND_POSTS, KEY, **kwargs)  # type: ignore[arg-type]
        assert (response.status, json.loads(response.body)["code"]) == (400, code)
        assert response.headers["Prisma-Error-Code"] == code
    assert edge.origin.calls() == 0


# --- invalidation ----------------------------------------------------------------------------------


async def invalidate(edge, body: object, key: str = KEY, path: str = "/invalidate") -> EdgeResponse:  # type: ignore[no-untyped-def]
    return await edge.send(body, key, cache=None, path=path)


async def test_invalidating_a_tag_makes_its_entries_misses_and_leaves_others() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY, tags="posts")
    await edge.send(FIND_POSTS, KEY, tags="other")
    done = await invalidate(edge, {"tags": ["posts"]})
    assert (done.status, json.loads(done.body)) == (200, {"invalidated": {"tags": ["posts"]}})
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="posts")) == "miss"
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="other")) == "ttl"


async def test_invalidating_all_reaches_every_entry_of_that_database_only() -> None:
    edge = make_cache_edge()
    other = key_for("db2", key_id="key2")
    await edge.send(FIND_POSTS, KEY)
    await edge.send(FIND_POSTS, KEY, tags="posts")
    await edge.send(FIND_POSTS, other)
    done = await invalidate(edge, {"tags": "all"}, path="/v1/invalidate")
    assert (done.status, json.loads(done.body)) == (200, {"invalidated": {"tags": "all"}})
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="posts")) == "miss"
    assert status_of(await edge.send(FIND_POSTS, other)) == "ttl"


async def test_a_tag_named_all_is_just_a_tag() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY)
    await invalidate(edge, {"tags": ["all"]})
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"


async def test_invalidating_a_model_reaches_entries_that_read_it() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY)
    done = await invalidate(edge, {"models": ["User"]}, path="/v1/invalidate")
    assert json.loads(done.body) == {"invalidated": {"tags": [], "models": ["User"]}}
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"
    await invalidate(edge, {"models": ["Post"]}, path="/v1/invalidate")
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"


async def test_invalidation_needs_a_read_write_or_admin_key() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY, tags="posts")
    refused = await invalidate(edge, {"tags": ["posts"]}, key=key_for("db1", scope="read", key_id="r"))
    assert (refused.status, json.loads(refused.body)["code"]) == (403, "BW2003")
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="posts")) == "ttl"
    admin = await invalidate(edge, {"tags": ["posts"]}, key=key_for("db1", scope="admin", key_id="a"))
    assert admin.status == 200
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="posts")) == "miss"


async def test_malformed_invalidations_get_400() -> None:
    edge = make_cache_edge()
    for body in ({}, {"tags": "some"}, {"tags": [1]}, {"tags": ["a b"]}, {"other": 1}, [], {"models": "x"}):
        response = await invalidate(edge, body)
        assert response.status == 400, body
        assert json.loads(response.body)["code"] in ("BW1201", "BW1204")
    assert (await invalidate(edge, b"nope")).status == 400
    too_many = await invalidate(edge, {"tags": [f"t{i}" for i in range(101)]})
    assert json.loads(too_many.body)["code"] == "BW1202"


# --- writes ------------------------------------------------------------------------------------------


async def test_a_write_through_the_edge_makes_the_next_read_of_its_models_fresh() -> None:
    counter = {"n": 0}

    def answer(seen: Seen) -> EdgeResponse:
        counter["n"] += 1
        if seen.body["action"] == "createOne":
            return EdgeResponse.json(200, {"data": {}}, {"x-breakwater-models-written": "Post,Tag"})
        read = "User,Post" if seen.body["modelName"] == "User" else seen.body["modelName"]
        return EdgeResponse.json(200, {"data": counter["n"]}, {"x-breakwater-models-read": read})

    edge = make_cache_edge(answer=answer)
    users = {**FIND_POSTS, "modelName": "User"}  # "includes" posts: the origin says it read both
    comments = {**FIND_POSTS, "modelName": "Comment"}
    for body in (FIND_POSTS, users, comments):
        await edge.send(body, KEY)
        assert status_of(await edge.send(body, KEY)) == "ttl"
    wrote = await edge.send(CREATE_POST, KEY, cache=None)
    assert (status_of(wrote), wrote.headers["x-breakwater-cache"]) == ("none", "write")
    after = [await edge.send(body, KEY) for body in (FIND_POSTS, users, comments)]
    assert [status_of(r) for r in after] == ["miss", "miss", "ttl"]


async def test_without_origin_headers_a_write_bumps_its_own_model_and_raw_sql_bumps_everything() -> None:
    edge = make_cache_edge()
    users = {**FIND_POSTS, "modelName": "User"}
    await edge.send(FIND_POSTS, KEY)
    await edge.send(users, KEY)
    await edge.send(CREATE_POST, KEY, cache=None)
    assert [status_of(await edge.send(b, KEY)) for b in (FIND_POSTS, users)] == ["miss", "ttl"]
    raw = {"action": "executeRaw", "query": {"arguments": {"query": "DELETE FROM x", "parameters": "[]"}}}
    await edge.send(raw, KEY, cache=None)
    assert [status_of(await edge.send(b, KEY)) for b in (FIND_POSTS, users)] == ["miss", "miss"]


async def test_a_refused_write_bumps_nothing_unless_the_origin_says_it_wrote() -> None:
    edge = make_cache_edge(answer=lambda seen: rows_of(seen.database_id, 0))
    await edge.send(FIND_POSTS, KEY)
    edge.origin.answer = lambda seen: EdgeResponse.json(403, {"code": "BW2003", "message": "read-only"})
    await edge.send(CREATE_POST, KEY, cache=None)
    edge.origin.answer = lambda seen: rows_of(seen.database_id, 0)
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"


async def test_a_read_that_raced_a_write_is_served_but_not_stored() -> None:
    edge = make_cache_edge()
    edge.origin.gate = asyncio.Event()
    reading = asyncio.ensure_future(edge.send(FIND_POSTS, KEY))
    while edge.origin.calls() == 0:
        await asyncio.sleep(0)
    # The write commits while the read is at the origin: its answer may predate the write.
    await edge.versions.bump("db1", ["m:Post"])
    edge.origin.gate.set()
    response = await reading
    assert (status_of(response), response.headers["x-breakwater-cache"]) == ("miss", "raced-write")
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"


async def test_writes_in_a_transaction_invalidate_when_it_commits_not_before() -> None:
    edge = make_cache_edge()
    tx = "/transaction/o1~abc"
    await edge.send(FIND_POSTS, KEY)
    in_tx = await edge.send(
        {**CREATE_POST, "operation": "createOne", "model": "Post"}, KEY, None, path=f"{tx}/query"
    )
    assert (status_of(in_tx), in_tx.headers["x-breakwater-cache"]) == ("none", "transaction")
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"
    await edge.send({}, KEY, None, path=f"{tx}/commit")
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"


async def test_a_rolled_back_transaction_invalidates_nothing() -> None:
    edge = make_cache_edge()
    tx = "/6.19.3/abc/itx/o1~abc"
    await edge.send(FIND_POSTS, KEY)
    await edge.send(CREATE_POST, KEY, None, path=f"{tx}/graphql")
    await edge.send({}, KEY, None, path=f"{tx}/rollback")
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"
    await edge.send({}, KEY, None, path=f"{tx}/commit")  # nothing is held any more
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"


async def test_queries_inside_a_transaction_are_never_cached() -> None:
    edge = make_cache_edge()
    for _ in range(2):
        response = await edge.send(FIND_POSTS, KEY, path="/6.19.3/abc/itx/o1~abc/graphql")
        assert status_of(response) == "none"
    assert edge.origin.calls() == 2


# --- versions seen by other isolates ----------------------------------------------------------------


async def test_an_invalidation_made_elsewhere_is_seen_within_the_versions_ttl() -> None:
    edge = make_cache_edge(CacheSettings(versions_ttl=1.0))
    await edge.send(FIND_POSTS, KEY, tags="posts")
    await edge.versions.bump("db1", ["t:posts"])  # through another isolate
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="posts")) == "ttl"
    edge.clock.now += 1.01
    assert status_of(await edge.send(FIND_POSTS, KEY, tags="posts")) == "miss"


async def test_the_origin_can_push_an_invalidation_signed_for_the_edge() -> None:
    edge = make_cache_edge()
    await edge.send(FIND_POSTS, KEY)
    body = json.dumps({"database_id": "db1", "models": ["Post"]}).encode()

    def push(signature: str | None) -> EdgeRequest:
        headers = Headers({service.HEADER: signature} if signature else {})
        return EdgeRequest("POST", "http://edge.test/_bw/invalidate", headers, body)

    assert (await edge.app.handle(push(None), edge.ctx)).status == 401
    as_origin = service.sign(
        SERVICE_SECRET.encode(), "origin", {}, "POST", "/_bw/invalidate", body, edge.clock()
    )
    assert (await edge.app.handle(push(as_origin), edge.ctx)).status == 401
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "ttl"
    signed = service.sign(SERVICE_SECRET.encode(), "edge", {}, "POST", "/_bw/invalidate", body, edge.clock())
    done = await edge.app.handle(push(signed), edge.ctx)
    assert (done.status, json.loads(done.body)) == (
        200,
        {"invalidated": {"database_id": "db1", "tags": [], "models": ["Post"]}},
    )
    assert status_of(await edge.send(FIND_POSTS, KEY)) == "miss"


invalidation_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["tags", "models", "other"]), children, max_size=3)
    ),
    max_leaves=10,
)


@given(invalidation_bodies)
def test_any_invalidation_body_is_accepted_whole_or_refused_with_a_400(payload: Any) -> None:
    layer = make_cache_edge().app.cache
    assert layer is not None
    try:
        parsed = layer.parse_invalidation(payload)
    except EdgeError as exc:
        assert exc.status == 400 and exc.code in ("BW1201", "BW1202", "BW1204")
    else:
        assert parsed["tags"] == "all" or all(isinstance(t, str) for t in parsed["tags"])
        assert set(parsed) <= {"tags", "models"}


@pytest.mark.parametrize("tags", [["posts"], "all"])
async def test_an_unreachable_tag_versions_object_fails_an_invalidation_loudly(tags: Any) -> None:
    edge = make_cache_edge()

    async def broken(*args: Any) -> None:
        raise ConnectionError("Durable Object unavailable")

    edge.versions.bump = broken  # type: ignore[method-assign]
    response = await invalidate(edge, {"tags": tags})
    assert (response.status, json.loads(response.body)["code"]) == (503, "BW3001")


async def test_an_unreachable_tag_versions_object_means_uncached_answers_not_errors() -> None:
    edge = make_cache_edge()

    async def broken(*args: Any) -> None:
        raise ConnectionError("Durable Object unavailable")

    edge.versions.read = broken  # type: ignore[method-assign]
    edge.versions.bump = broken  # type: ignore[method-assign]
    read = await edge.send(FIND_POSTS, KEY)
    assert (read.status, status_of(read), read.headers["x-breakwater-cache"]) == (
        200,
        "none",
        "versions-unavailable",
    )
    wrote = await edge.send(CREATE_POST, KEY, cache=None)
    assert (wrote.status, wrote.headers["x-breakwater-cache"]) == (200, "write; invalidation-failed")
