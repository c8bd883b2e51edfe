"""Cached responses as Cache API objects, and the local runtime's Cache API with its expiry."""

from __future__ import annotations

from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwedge.cache.entry import CacheEntry, cache_url, decode, encode, http_date
from bwedge.http import EdgeResponse, Headers
from edge_local.cache import LocalCacheStorage
from tests.edge.test_revocation import Clock

BODY = b'{"data":[{"id":1}]}'


def test_an_entry_round_trips_with_the_origins_body_and_headers_exactly() -> None:
    headers = Headers(
        {"content-type": "application/json", "x-breakwater-models-read": "Post", "x-request-id": "r1"}
    )
    entry = CacheEntry(200, headers, BODY, 1234.5, {"m:Post": 3})
    stored = encode(entry, lifetime=90)
    assert stored.headers["cache-control"] == "max-age=90"
    stored.headers["cf-cache-status"] = "HIT"  # what Cloudflare adds to a match
    back = decode(stored)
    assert back == CacheEntry(
        200,
        back.headers if back else Headers(),
        BODY,
        1234.5,
        {"m:Post": 3},
    )
    assert back is not None
    assert back.headers.items() == [
        ("content-type", "application/json"),
        ("x-breakwater-models-read", "Post"),
    ]


@pytest.mark.parametrize("meta", [None, "nope", '{"p":"x","m":{}}', '{"p":1}', '{"p":1,"m":{"a":"b"}}'])
def test_anything_else_in_the_cache_is_not_an_entry(meta: str | None) -> None:
    headers = Headers({"content-type": "application/json"})
    if meta is not None:
        headers["x-breakwater-cache-meta"] = meta
    assert decode(EdgeResponse(200, headers, BODY)) is None


def test_keys_become_get_urls_on_the_requests_own_host() -> None:
    assert cache_url("http://127.0.0.1:8787/v1/query?x=1", "ab") == "https://127.0.0.1:8787/_bw/cache/ab"
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_http_dates_match_the_standard_librarys(timestamp: int) -> None:
    assert http_date(timestamp) == formatdate(timestamp, usegmt=True)


def response(cache_control: str, body: bytes = BODY) -> EdgeResponse:
    return EdgeResponse(200, Headers({"cache-control": cache_control}), body)


async def test_the_local_cache_api_expires_entries_by_their_cache_control() -> None:
    clock = Clock()
    cache = LocalCacheStorage(clock)
    await cache.put("https://h/a", response("max-age=10"))
    await cache.put("https://h/b", response("s-maxage=20, max-age=5"))
    await cache.put("https://h/c", response("no-store, max-age=10"))
    await cache.put("https://h/d", response("public"))
    clock.now += 9.9
    found = await cache.match("https://h/a")
    assert found is not None and (found.status, found.body) == (200, BODY)
    assert await cache.match("https://h/c") is None and await cache.match("https://h/d") is None
    clock.now += 0.1
    assert await cache.match("https://h/a") is None
    assert await cache.match("https://h/b") is not None
    clock.now += 10
    assert await cache.match("https://h/b") is None and len(cache) == 0


async def test_the_local_cache_api_drops_least_recently_used_entries_past_its_budget() -> None:
    cache = LocalCacheStorage(Clock(), max_bytes=120)  # two of these entries fit
    for name in ("a", "b", "c"):
        await cache.put(f"https://h/{name}", response("max-age=60", b"x" * 30))
        if name == "b":
            await cache.match("https://h/a")  # a is now more recent than b
    assert [await cache.match(f"https://h/{n}") is not None for n in "abc"] == [True, False, True]
    await cache.put("https://h/huge", response("max-age=60", b"x" * 500))
    assert await cache.match("https://h/huge") is None


async def test_the_local_cache_api_refuses_what_cloudflares_refuses() -> None:
    cache = LocalCacheStorage(Clock())
    with pytest.raises(ValueError):
        await cache.put("https://h/a", EdgeResponse(206, Headers({"cache-control": "max-age=5"})))
    with pytest.raises(ValueError):
        await cache.put(
            "https://h/a", EdgeResponse(200, Headers({"cache-control": "max-age=5", "vary": "*"}))
        )


async def test_a_match_is_a_copy_the_caller_may_change() -> None:
    cache = LocalCacheStorage(Clock())
    await cache.put("https://h/a", response("max-age=60"))
    first = await cache.match("https://h/a")
    assert first is not None
    first.headers["x"] = "y"
    again = await cache.match("https://h/a")
    assert again is not None and "x" not in again.headers
