"""Shared pieces for the cache tests: an edge with the cache on, over the local runtime's Cache API
and TagVersions objects, an injected clock, a scripted origin and a background queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bwcontract import keys, service
from bwedge.app import EdgeApp
from bwedge.cache.layer import CacheParts
from bwedge.cache.settings import CacheSettings
from bwedge.config import EdgeConfig
from bwedge.http import EdgeRequest, EdgeResponse, Headers
from bwedge.revocation import RevocationStore, RevocationView
from edge_local.cache import LocalCacheStorage
from edge_local.durable import LocalTagVersions
from tests.edge.test_revocation import Clock, CountingPort, MemorySql

KEY_SECRET = "k" * 32
SERVICE_SECRET = "s" * 32
FIND_POSTS = {
    "modelName": "Post",
    "action": "findMany",
    "query": {"arguments": {"where": {"published": True}}, "selection": {"$scalars": True}},
}
CREATE_POST = {
    "modelName": "Post",
    "action": "createOne",
    "query": {"arguments": {"data": {"title": "x"}}, "selection": {"$scalars": True}},
}


@dataclass
class Seen:
    database_id: str
    method: str
    target: str
    body: Any


Answer = Callable[[Seen], EdgeResponse]


def rows_of(database: str, version: int) -> EdgeResponse:
    return EdgeResponse.json(200, {"data": [{"db": database, "v": version}]}, {"x-origin": "yes"})


class ScriptedOrigin:
    """Answers every request with `answer(seen)`; by default rows naming the database and a counter,
    so a test sees which database and which origin call produced a body."""

    def __init__(self, clock: Clock, answer: Answer | None = None) -> None:
        self.clock = clock
        self.seen: list[Seen] = []
        self.answer = answer
        self.gate: asyncio.Event | None = None  # when set, requests wait for it (to overlap them)

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        claims = service.verify(
            headers[service.HEADER],
            [SERVICE_SECRET.encode()],
            service.origin_audience("o1"),
            method,
            target,
            body,
            self.clock(),
        ).values
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body
        seen = Seen(str(claims["d"]), method, target, parsed)
        self.seen.append(seen)
        if self.gate is not None:
            await self.gate.wait()
        if self.answer is not None:
            return self.answer(seen)
        return rows_of(seen.database_id, len(self.seen))

    def calls(self, path: str = "") -> int:
        return sum(1 for s in self.seen if s.target.startswith(path))


@dataclass
class Background:
    """`ctx.waitUntil`: collected, and run when the test says so."""

    pending: list[Awaitable[Any]] = field(default_factory=list)

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        self.pending.append(asyncio.ensure_future(awaitable))

    async def drain(self) -> None:
        while self.pending:
            await self.pending.pop(0)


@dataclass
class CacheEdge:
    app: EdgeApp
    origin: ScriptedOrigin
    store: LocalCacheStorage
    versions: LocalTagVersions
    clock: Clock
    ctx: Background

    async def send(
        self,
        body: Any,
        key: str,
        cache: str | None = "max-age=60",
        tags: str | None = None,
        path: str = "/v1/query",
        **headers: str,
    ) -> EdgeResponse:
        h = Headers({"authorization": f"Bearer {key}", "content-type": "application/json", **headers})
        if cache is not None:
            h["cache-control"] = cache
        if tags is not None:
            h["accelerate-cache-tags"] = tags
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.app.handle(EdgeRequest("POST", f"http://edge.test{path}", h, raw), self.ctx)


def key_for(database_id: str, scope: str = "read-write", key_id: str = "key1") -> str:
    claims = keys.KeyClaims(key_id, "ws1", database_id, f"name-{database_id}", scope)
    return keys.mint(claims, KEY_SECRET.encode())


def make_cache_edge(settings: CacheSettings | None = None, answer: Answer | None = None) -> CacheEdge:
    clock = Clock()
    config = EdgeConfig.from_env(
        {"KEY_SECRET": KEY_SECRET, "SERVICE_SECRET": SERVICE_SECRET, "ORIGIN_URL": "http://origin"}
    )
    origin = ScriptedOrigin(clock, answer)
    store = LocalCacheStorage(clock)
    versions = LocalTagVersions(None, clock)
    revocations = RevocationView(CountingPort(RevocationStore(MemorySql(), clock)), clock, ttl=5)
    parts = CacheParts(store, versions, settings or CacheSettings())
    app = EdgeApp(config, origin, revocations, clock, parts)
    return CacheEdge(app, origin, store, versions, clock, Background())


def status_of(response: EdgeResponse) -> str | None:
    return response.headers.get("accelerate-cache-status")


def data_of(response: EdgeResponse) -> Any:
    return json.loads(response.body)["data"]
