"""The Cloudflare Worker shell: the entrypoint and the Durable Object classes wrangler.toml names.
It converts Workers types at the boundary and delegates to `bwedge`; the runtime's objects behind
bwedge's ports are in `workerports`.

Only these two modules touch `js` / `workers`; everything they call is the same code the local
runtime (edge_local) runs on CPython. Keep logic out of here.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import js
from pyodide.ffi import to_js
from workerports import (
    JS_NULL,
    KEY_HEADER,
    SUBSCRIPTION_HEADER,
    DurablePlanLimits,
    DurableQueues,
    DurableRevocations,
    DurableTagVersions,
    HibernatableSockets,
    R2Blobs,
    WorkerCache,
    WorkerContext,
    WorkerOrigin,
    WorkerSql,
)
from workers import DurableObject, Response, WorkerEntrypoint

from bwcontract.usage import PlanLimit
from bwedge import eventqueue
from bwedge.app import EdgeApp
from bwedge.cache.layer import CacheParts
from bwedge.cache.settings import ENV_NAMES as CACHE_ENV_NAMES
from bwedge.cache.settings import CacheSettings
from bwedge.cache.versions import TagVersionStore
from bwedge.config import EdgeConfig
from bwedge.eventlog import InvalidBatch
from bwedge.eventroutes import EventRoutes
from bwedge.http import EdgeRequest, EdgeResponse, Headers
from bwedge.planlimits import PlanLimitStore, PlanLimitView
from bwedge.revocation import RevocationStore, RevocationView
from bwedge.subscription import Subscription

_ENV_NAMES = (
    "KEY_SECRET",
    "KEY_SECRET_PREVIOUS",
    "SERVICE_SECRET",
    "SERVICE_SECRET_PREVIOUS",
    "ORIGIN_URL",
    "ORIGIN_ID",
    "ORIGINS",
    "REVOCATION_TTL_SECONDS",
    "MAX_REQUEST_BYTES",
    "USAGE_METERING",
    "USAGE_FLUSH_SECONDS",
    "USAGE_BATCH_HITS",
    "PLAN_LIMITS_TTL_SECONDS",
    *CACHE_ENV_NAMES,
    *eventqueue.ENV_NAMES,
)

# One app per isolate: config parsing and the revocation cache survive across requests.
_app: EdgeApp | None = None


def _env_mapping(env: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in _ENV_NAMES:
        value = getattr(env, name, None)
        if isinstance(value, str | int | float) and str(value):
            values[name] = str(value)
    return values


def _get_app(env: Any) -> EdgeApp:
    global _app
    if _app is None:
        values = _env_mapping(env)
        config = EdgeConfig.from_env(values)
        revocations = RevocationView(DurableRevocations(env), time.time, config.revocation_ttl)
        cache = CacheParts(WorkerCache(), DurableTagVersions(env), CacheSettings.from_env(values))
        limits = PlanLimitView(DurablePlanLimits(env), time.time, config.plan_limits_ttl)
        # An isolate has no disk: its cache hits wait in memory until flushed (bwedge/usage.py).
        _app = EdgeApp(config, WorkerOrigin(config), revocations, time.time, cache, limits)
        EventRoutes(_app, DurableQueues(env)).install()
    return _app


async def _edge_request(request: Any) -> EdgeRequest:
    # The runtime hands over a workers.Request, or the JS Request itself on older SDKs.
    js_request = getattr(request, "js_object", request)
    headers = Headers((str(pair[0]), str(pair[1])) for pair in js_request.headers.entries())
    body = b""
    if js_request.method not in ("GET", "HEAD"):
        body = bytes((await js_request.arrayBuffer()).to_py())
    return EdgeRequest(str(js_request.method), str(js_request.url), headers, body)


def _native(response: EdgeResponse) -> Response:
    return Response(response.body, status=response.status, headers=dict(response.headers.items()))


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Response:
        app = _get_app(self.env)
        js_request = getattr(request, "js_object", request)
        length = js_request.headers.get("content-length")  # JS null when absent
        refused = app.refuse_body(str(length) if isinstance(length, str) else None)
        if refused is not None:  # not read: a body over the limit never reaches this isolate's memory
            return _native(refused)
        response = await app.handle(await _edge_request(request), WorkerContext(self.ctx))
        if response.native is not None:
            return Response(response.native)  # the queue's 101 with the consumer's WebSocket
        return _native(response)


class Revocations(DurableObject):
    """The one, strongly consistent revocation list (a single instance named "global")."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.store = RevocationStore(WorkerSql(ctx.storage), time.time)

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        return self.store.is_revoked(key_id, database_id)

    async def revoke(self, key_ids_json: str, database_ids_json: str) -> None:
        self.store.revoke(json.loads(key_ids_json), json.loads(database_ids_json))


class PlanLimits(DurableObject):
    """Databases over their workspace's limit (a single instance named "global"); bwedge.planlimits."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.store = PlanLimitStore(WorkerSql(ctx.storage), time.time)

    async def get(self, database_id: str) -> str:
        return json.dumps(self.store.get(database_id).as_dict())

    async def apply(self, limits_json: str) -> None:
        self.store.apply([PlanLimit.from_dict(row) for row in json.loads(limits_json)])


class TagVersions(DurableObject):
    """Cache tag versions of one database (named by its id); see bwedge.cache.versions."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.store = TagVersionStore(WorkerSql(ctx.storage), time.time)

    async def read(self, tags_json: str) -> str:
        return self.store.read(json.loads(tags_json)).to_json()

    async def bump(self, tags_json: str) -> str:
        return self.store.bump(json.loads(tags_json)).to_json()

    async def hold(self, tx_id: str, tags_json: str) -> None:
        self.store.hold(tx_id, json.loads(tags_json))

    async def release(self, tx_id: str, commit: bool) -> str:
        return self.store.release(tx_id, bool(commit)).to_json()


class EventQueue(DurableObject):
    """One per database: the ordered event log and its consumers' WebSockets (bwedge.eventqueue)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        settings = eventqueue.QueueSettings.from_env(_env_mapping(env))
        storage = getattr(ctx.storage, "_binding", ctx.storage)

        async def schedule(at: float) -> None:
            await storage.setAlarm(at * 1000)

        # R2 keys are prefixed with this object's id (one object per database).
        self.queue = eventqueue.EventQueue(
            str(ctx.id.toString()),
            WorkerSql(ctx.storage),
            R2Blobs(env.EVENTS_BUCKET),
            HibernatableSockets(ctx),
            time.time,
            settings,
            schedule,
        )

    async def append(self, body: str) -> str:
        try:
            return json.dumps(await self.queue.append(body))
        except InvalidBatch as exc:
            return json.dumps({"error": str(exc)})

    async def append_part(self, offset: str, index: int, count: int, text: str) -> str:
        try:
            return json.dumps(await self.queue.append_part(offset, int(index), int(count), text))
        except InvalidBatch as exc:
            return json.dumps({"error": str(exc)})

    async def fetch(self, request: Any) -> Response:
        js_request = getattr(request, "js_object", request)
        subscription = Subscription.from_json(json.loads(str(js_request.headers.get(SUBSCRIPTION_HEADER))))
        key_id = js_request.headers.get(KEY_HEADER)
        client, server = js.WebSocketPair.new().object_values()
        socket_id = secrets.token_hex(8)
        self.ctx.acceptWebSocket(server, to_js([socket_id]))
        server.serializeAttachment(socket_id)
        await self.queue.open(socket_id, subscription, "" if key_id in (None, JS_NULL) else str(key_id))
        return Response(None, status=101, web_socket=client)

    async def revoke(self, key_ids_json: str, everything: bool) -> int:
        return await self.queue.revoke(json.loads(key_ids_json), bool(everything))

    async def figures(self) -> str:
        return json.dumps(self.queue.figures())

    async def webSocketMessage(self, ws: Any, message: Any) -> None:
        await self.queue.message(str(ws.deserializeAttachment()), str(message))

    async def webSocketClose(self, ws: Any, code: int, reason: str, was_clean: bool) -> None:
        await self.queue.closed(str(ws.deserializeAttachment()))

    async def webSocketError(self, ws: Any, error: Any) -> None:
        await self.queue.closed(str(ws.deserializeAttachment()))

    async def alarm(self, *_info: Any) -> None:
        await self.queue.alarm()
