"""`EdgeApp.handle` timed in-process for a cache hit, a miss and the floor; stdlib only, so the same
file runs under CPython and under Pyodide (bench/edge_pyodide.py runs it in both and compares).

The edge is built as the local runtime builds it, with in-memory ports: the local Cache API
(edge_local/cache.py), tag versions, revocations and plan limits in dicts, metering on (hits recorded
in a MemoryJournal and flushed in the background, as in a Worker isolate). The origin is a stub port
in the same process that answers at once with a fixed body: a miss here is the edge's own work around
an origin call, not the origin's.

  floor    POST /v1/query with a key whose signature does not match: 401 (the cheapest answer
           that goes through routing, key reading and an error body; the same request shape as a hit)
  health   GET /_bw/health (no authentication, no cache work)
  hit      a cached findMany (max-age=3600): key, plan limit, cache key, versions, Cache API, meter
  miss     a findMany that is new every time (distinct `skip`), answered by the stub origin and stored
  cold     the hit's request with this isolate's memories of keys, shapes, entries and entry URLs
           emptied before each: a hit as a fresh isolate serves it (from the Cache API)
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import time
from typing import Any

from bwcontract import keys, wire
from bwcontract.keys import KeyClaims
from bwcontract.usage import OK, PlanLimit
from bwedge.app import EdgeApp
from bwedge.cache.layer import CacheParts
from bwedge.cache.ports import Versions
from bwedge.cache.settings import CacheSettings
from bwedge.config import EdgeConfig
from bwedge.http import EdgeRequest, EdgeResponse, Headers
from bwedge.planlimits import PlanLimitView
from bwedge.revocation import RevocationView
from edge_local.cache import LocalCacheStorage

KEY_SECRET = b"k" * 32
QUERY = {
    "modelName": "posts",
    "action": "findMany",
    "query": {"arguments": {"orderBy": [{"id": "asc"}], "take": 10}, "selection": {"$scalars": True}},
}
# What the origin answers a findMany of 10 posts with (its headers as the real origin sends them).
ROWS = json.dumps(
    {"data": {"findMany": [{"id": i, "title": f"post {i}", "views": i * 7} for i in range(10)]}},
    separators=(",", ":"),
).encode()
ORIGIN_HEADERS = {
    "content-type": "application/json",
    wire.MODELS_READ: "posts",
    wire.SHAPE: "0f3c2a9b",
    "x-request-id": "r",
    "server-timing": "db;dur=0.4",
}


class StubOrigin:
    """Answers every query at once with ROWS, and counts hit batches as the origin does."""

    def __init__(self) -> None:
        self.calls = 0
        self.hit_batches = 0

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        self.calls += 1
        if target == wire.USAGE_HITS_PATH:
            self.hit_batches += 1
            return EdgeResponse.json(200, {"counted": True})
        return EdgeResponse(200, Headers(ORIGIN_HEADERS), ROWS)


class MemoryRevocations:
    def __init__(self) -> None:
        self.revoked: set[str] = set()

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        return key_id in self.revoked or database_id in self.revoked

    async def revoke(self, key_ids: list[str], database_ids: list[str]) -> None:
        self.revoked.update(key_ids, database_ids)


class MemoryPlanLimits:
    async def get(self, database_id: str) -> PlanLimit:
        return PlanLimit(database_id, OK)

    async def apply(self, limits: list[PlanLimit]) -> None:
        pass


class MemoryTagVersions:
    """The TagVersions objects' answers (bwedge.cache.versions.TagVersionStore) over dicts."""

    def __init__(self) -> None:
        self.seq: dict[str, int] = {}
        self.tags: dict[str, dict[str, int]] = {}

    async def read(self, database_id: str, tags: list[str]) -> Versions:
        known = self.tags.setdefault(database_id, {})
        return Versions(7, self.seq.get(database_id, 0), {t: known.get(t, 0) for t in tags})

    async def bump(self, database_id: str, tags: list[str]) -> Versions:
        seq = self.seq[database_id] = self.seq.get(database_id, 0) + 1
        self.tags.setdefault(database_id, {}).update(dict.fromkeys(tags, seq))
        return Versions(7, seq, dict.fromkeys(tags, seq))

    async def hold(self, database_id: str, tx_id: str, tags: list[str]) -> None:
        pass

    async def release(self, database_id: str, tx_id: str, commit: bool) -> Versions:
        return await self.read(database_id, [])


class Background:
    """`ctx.waitUntil`, as a runtime runs it: a task on the event loop."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Future[Any]] = set()

    def wait_until(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def build() -> tuple[EdgeApp, StubOrigin, str]:
    config = EdgeConfig.from_env(
        {"KEY_SECRET": KEY_SECRET.decode(), "SERVICE_SECRET": "s" * 32, "ORIGIN_URL": "http://origin.test"}
    )
    origin = StubOrigin()
    cache = CacheParts(LocalCacheStorage(time.time), MemoryTagVersions(), CacheSettings())
    limits = PlanLimitView(MemoryPlanLimits(), time.time, config.plan_limits_ttl)
    revocations = RevocationView(MemoryRevocations(), time.time, config.revocation_ttl)
    app = EdgeApp(config, origin, revocations, time.time, cache, limits)
    token = keys.mint(KeyClaims("key1", "ws1", "db1", "bench", "read-write"), KEY_SECRET)
    return app, origin, token


def requests(token: str) -> dict[str, Any]:
    """label -> a function of the request number that makes its request, and the answer expected."""
    body = json.dumps(QUERY).encode()
    good = Headers(
        {
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            "cache-control": "max-age=3600",
        }
    )
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bad = Headers({**dict(good.items()), "authorization": f"Bearer {forged}"})
    url = "https://edge.test/v1/query"

    def miss(i: int) -> EdgeRequest:
        fresh = json.loads(body)
        fresh["query"]["arguments"]["skip"] = i
        return EdgeRequest("POST", url, good, json.dumps(fresh).encode())

    return {
        "floor": (lambda i: EdgeRequest("POST", url, bad, body), (401, None)),
        "health": (lambda i: EdgeRequest("GET", "https://edge.test/_bw/health", Headers()), (200, None)),
        "hit": (lambda i: EdgeRequest("POST", url, good, body), (200, "ttl")),
        "miss": (miss, (200, "miss")),
        "cold": (lambda i: EdgeRequest("POST", url, good, body), (200, "ttl")),
    }


def forget(app: EdgeApp) -> None:
    """Empty what an isolate remembers between requests (where the edge has such memories)."""
    if hasattr(app, "verified_keys") and app.cache is not None:
        from bwedge.cache import classify, recent

        app.verified_keys.forget()
        app.cache.shapes = classify.KnownShapes()
        app.cache.recent = recent.RecentEntries()
        app.cache._urls.clear()


async def run(n: int, rounds: int = 10, profile_hits: int = 0) -> dict[str, Any]:
    """Samples in ms per label, taken in `rounds` interleaved blocks; with `profile_hits`, a cProfile
    listing of that many hits as well."""
    app, origin, token = build()
    ctx = Background()
    made = requests(token)
    samples: dict[str, list[float]] = {label: [] for label in made}
    counter = [1_000_000]

    async def one(label: str) -> float:
        make, (status, cache_status) = made[label]
        counter[0] += 1
        request = make(counter[0])
        if label == "cold":
            forget(app)
        started = time.perf_counter()
        response = await app.handle(request, ctx)
        took = (time.perf_counter() - started) * 1000
        if response.status != status or response.headers.get("accelerate-cache-status") != cache_status:
            raise SystemExit(f"{label}: {response.status} {response.headers!r} {response.body[:300]!r}")
        await asyncio.sleep(0)  # as a server does between requests: background work gets to run
        return took

    await app.handle(made["hit"][0](0), ctx)  # the miss that fills the hit's entry
    for label in made:  # warm-up: imports, caches
        for _ in range(50):
            await one(label)
    per_round = max(n // rounds, 1)
    for r in range(rounds):
        order = list(made) if r % 2 == 0 else list(reversed(made))
        for label in order:
            samples[label] += [await one(label) for _ in range(per_round)]
    profile = ""
    if profile_hits:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(profile_hits):
            await one("hit")
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        profile = out.getvalue()
    if ctx.tasks:
        await asyncio.wait(ctx.tasks, timeout=10)
    return {
        "samples": samples,
        "profile": profile,
        "origin_calls": origin.calls,
        "hit_batches": origin.hit_batches,
    }
