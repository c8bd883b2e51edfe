"""ASGI server around `bwedge.app.EdgeApp`, with the host's ports."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

from bwcontract.usage import HitBatch
from bwedge.app import EdgeApp
from bwedge.cache.layer import CacheParts
from bwedge.cache.settings import CacheSettings
from bwedge.config import EdgeConfig
from bwedge.errors import payload_too_large
from bwedge.eventqueue import QueueSettings
from bwedge.eventroutes import EventRoutes
from bwedge.http import EdgeRequest, EdgeResponse, Headers
from bwedge.planlimits import PlanLimitView
from bwedge.revocation import RevocationView
from bwedge.usage import HitJournal, Send
from bwservice.journal import Journal

from .cache import LocalCacheStorage
from .durable import LocalPlanLimits, LocalRevocations, LocalTagVersions
from .events import LocalQueues, LocalUpgrade
from .origin import HttpOrigin

log = logging.getLogger("breakwater.edge")

Scope = dict[str, Any]


class LocalContext:
    """`ctx.waitUntil`: background work that outlives the response, as in a Worker."""

    def __init__(self, tasks: set[asyncio.Task[Any]]) -> None:
        self._tasks = tasks

    def wait_until(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())


class LocalEdge:
    def __init__(self, env: Mapping[str, str], state_dir: Path | None) -> None:
        self.config = EdgeConfig.from_env(env)
        self.origin = HttpOrigin(self.config)
        revocations = RevocationView(LocalRevocations(state_dir), time.time, self.config.revocation_ttl)
        # The Cache API's memory here; Cloudflare's cache has no such budget to configure.
        budget = int(env.get("LOCAL_CACHE_MAX_BYTES", str(256 * 1024 * 1024)))
        store = LocalCacheStorage(time.time, budget)
        cache = CacheParts(store, LocalTagVersions(state_dir), CacheSettings.from_env(env))
        limits = PlanLimitView(LocalPlanLimits(state_dir), time.time, self.config.plan_limits_ttl)
        # Cache hits are journaled on disk here, their sums written every 50 ms (bwedge/usage.py: a
        # process killed with -9 loses at most its last 50 ms of hits); without a state directory
        # they wait in memory, as in a Worker isolate.
        journal: HitJournal | None = None
        if state_dir is not None:
            journal = Journal(state_dir / "usage")
        self.app = EdgeApp(
            self.config, self.origin, revocations, time.time, cache, limits, journal, hits_written_every=0.05
        )
        self._pause_after_send = float(env.get("LOCAL_USAGE_FAULT_PAUSE_MS") or 0) / 1000
        if self.app.usage is not None and self._pause_after_send:
            self.app.usage.send = self._paused_send(self.app.usage.send)
        self.queues = LocalQueues(state_dir, QueueSettings.from_env(env))
        EventRoutes(self.app, self.queues).install()
        self.background: set[asyncio.Task[Any]] = set()
        self.context = LocalContext(self.background)  # holds nothing of one request: shared by all
        self._flusher: asyncio.Task[None] | None = None

    def _paused_send(self, send: Send) -> Send:
        """Fault tests only: a pause between the origin's "counted" and forgetting the batch."""

        async def paused(batch: HitBatch) -> None:
            await send(batch)
            await asyncio.sleep(self._pause_after_send)

        return paused

    async def _flush_hits(self) -> None:
        """A timer as well as requests: hits counted just before a quiet spell still go out."""
        usage = self.app.usage
        assert usage is not None
        while True:
            await asyncio.sleep(self.config.usage_flush_seconds)
            if usage.due():
                await usage.flush()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            elif scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            return
        received = _headers(scope)
        response = self.app.refuse_body(received.get("content-length"))
        if response is None:
            message = await receive()
            body = message.get("body", b"")
            if message.get("more_body") or len(body) > self.config.max_request_bytes:
                body, response = await self._rest_of_body(body, message, receive)
        if response is None:
            request = EdgeRequest(scope["method"], _url(scope), received, body)
            response = await self.app.handle(request, self.context)
        headers = response.headers.encoded()
        headers.append((b"content-length", b"%d" % len(response.body)))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _rest_of_body(
        self, first: bytes, message: dict[str, Any], receive: Any
    ) -> tuple[bytes, EdgeResponse | None]:
        """A body in more than one message (or one over the limit): (body, None), or (b"", the refusal)
        as soon as it is over the limit, reading no further (the rest never reaches memory; the
        connection is closed after the answer). The usual body comes in one message and is not copied."""
        body = bytearray(first)
        while True:
            if len(body) > self.config.max_request_bytes:
                return b"", payload_too_large(self.config.max_request_bytes).response()
            if not message.get("more_body"):
                return bytes(body), None
            message = await receive()
            body += message.get("body", b"")

    async def _websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        """A WebSocket upgrade goes through the same pipeline; a 101 hands the socket to its queue."""
        if (await receive())["type"] != "websocket.connect":
            return
        request = EdgeRequest("GET", _url(scope), _headers(scope))
        response = await self.app.handle(request, self.context)
        if response.status == 101 and isinstance(response.native, LocalUpgrade):
            await send({"type": "websocket.accept"})
            await self.queues.serve(response.native, receive, send)
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status,
                    "headers": response.headers.encoded(),
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": response.body.decode()[:120]})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.app.usage is not None:
                    self._flusher = asyncio.create_task(self._flush_hits())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._flusher is not None:
                    self._flusher.cancel()
                if self.background:
                    await asyncio.wait(self.background, timeout=5)
                if self.app.usage is not None:
                    await asyncio.wait_for(self.app.usage.flush(), timeout=5)
                await self.queues.aclose()
                await self.origin.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _headers(scope: Scope) -> Headers:
    # ASGI servers hand header names over in lower case.
    return Headers.decoded(scope["headers"])


_HTTP_SCHEMES = {"ws": "http", "wss": "https"}  # a WebSocket upgrade is an HTTP request to the pipeline


def _url(scope: Scope) -> str:
    host = None
    for name, value in scope["headers"]:  # the first Host header (clients send it first)
        if name == b"host":
            host = value.decode("latin-1")
            break
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    raw_path = scope.get("raw_path")
    path = (raw_path if raw_path is not None else scope["path"].encode()).decode("latin-1")
    scheme = scope.get("scheme", "http")
    scheme = _HTTP_SCHEMES.get(scheme, scheme)
    query = scope.get("query_string")
    if query:
        return f"{scheme}://{host}{path}?{query.decode('latin-1')}"
    return f"{scheme}://{host}{path}"


def create_app() -> LocalEdge:
    """uvicorn factory: settings come from the environment, as wrangler vars do in the Worker."""
    state = os.environ.get("EDGE_STATE_DIR")
    return LocalEdge(os.environ, Path(state) if state else None)
