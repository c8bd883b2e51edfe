"""Recent entries (bwedge/cache/recent.py): an isolate's decoded copies of Cache API entries, never
kept longer than the Cache API keeps them, bounded in bytes."""

from __future__ import annotations

from bwedge.cache import entry
from bwedge.cache.recent import MAX_ENTRY_BYTES, RecentEntries
from bwedge.http import EdgeResponse, Headers
from tests.edge.cache_support import FIND_POSTS, key_for, make_cache_edge, status_of


def stored(body: bytes = b'{"data":1}', produced_at: float = 1000.0, lifetime: int = 60) -> EdgeResponse:
    found = entry.CacheEntry(
        200, Headers({"content-type": "application/json"}), body, produced_at, {"m:A": 3}
    )
    return entry.encode(found, lifetime)


def test_an_entry_is_kept_decoded_until_the_cache_api_would_drop_it() -> None:
    recent = RecentEntries()
    ready = recent.keep("u", stored())
    assert ready is not None
    assert (ready.entry.status, ready.entry.body, ready.entry.produced_at, ready.entry.models) == (
        200, b'{"data":1}', 1000.0, {"m:A": 3}
    )  # fmt: skip
    assert ready.entry.headers.items() == [("content-type", "application/json")]
    assert ready.last_modified == entry.http_date(1000.0)
    assert recent.get("u", 1059.9) == ready
    assert recent.get("u", 1060.0) is None and len(recent) == 0


def test_what_is_not_ours_or_has_no_lifetime_is_not_kept() -> None:
    recent = RecentEntries()
    assert recent.keep("u", EdgeResponse(200, Headers(), b"x")) is None
    no_lifetime = stored()
    del no_lifetime.headers["cache-control"]
    assert recent.keep("u", no_lifetime) is not None and recent.get("u", 1000.0) is None


def test_memory_is_bounded_oldest_first_and_large_entries_are_not_kept() -> None:
    recent = RecentEntries(max_bytes=3000)
    for i in range(5):
        recent.keep(f"u{i}", stored(b"x" * 900))
    assert [recent.get(f"u{i}", 1000.0) is not None for i in range(5)] == [False, False, True, True, True]
    big = RecentEntries()
    assert big.keep("big", stored(b"x" * MAX_ENTRY_BYTES)) is not None and len(big) == 0


async def test_a_hit_is_served_from_memory_and_a_write_still_makes_it_a_miss() -> None:
    edge = make_cache_edge()
    key = key_for("db1")
    assert status_of(await edge.send(FIND_POSTS, key)) == "miss"
    edge.store._entries.clear()  # the Cache API dropped it: this isolate still has it
    assert status_of(await edge.send(FIND_POSTS, key)) == "ttl"
    await edge.app.cache.versions.bump("db1", ["m:Post"])  # type: ignore[union-attr]
    assert status_of(await edge.send(FIND_POSTS, key)) == "miss"
    assert edge.origin.calls() == 2
