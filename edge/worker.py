"""The Cloudflare Worker shell: converts Workers types at the boundary and delegates to `bwedge`.

Only this module touches `js` / `workers`; everything it calls is the same code the local runtime
(edge_local) runs on CPython. Keep logic out of here.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import js
from pyodide.ffi import to_js
from workers import DurableObject, Response, WorkerEntrypoint, fetch

from bwedge import eventqueue
from bwedge.app import EdgeApp
from bwedge.cache.layer import CacheParts
from bwedge.cache.ports import Versions
from bwedge.cache.settings import ENV_NAMES as CACHE_ENV_NAMES
from bwedge.cache.settings import CacheSettings
from bwedge.cache.versions import TagVersionStore
from bwedge.config import EdgeConfig
from bwedge.eventlog import InvalidBatch
from bwedge.eventroutes import EventRoutes
from bwedge.http import EdgeRequest, EdgeResponse, Headers
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
    *CACHE_ENV_NAMES,
    *eventqueue.ENV_NAMES,
)
SUBSCRIPTION_HEADER = "x-breakwater-subscription"
KEY_HEADER = "x-breakwater-key-id"

try:  # JS null reaches Python as pyodide.ffi.jsnull on newer Pyodide, as None before
    from pyodide.ffi import jsnull as _JS_NULL
except ImportError:  # pragma: no cover
    _JS_NULL = None

# One app per isolate: config parsing and the revocation cache survive across requests.
_app: EdgeApp | None = None


def _env_mapping(env: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in _ENV_NAMES:
        value = getattr(env, name, None)
        if isinstance(value, str | int | float) and str(value):
            values[name] = str(value)
    return values


class _WorkerSql:
    """Durable Object SQLite storage as the core's SqlStorage port."""

    def __init__(self, storage: Any) -> None:
        raw = getattr(storage, "_binding", storage)
        self._sql = raw.sql

    def exec(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = self._sql.exec(sql, *params)
        return [tuple(row) for row in cursor.raw().toArray().to_py()]


class _WorkerOrigin:
    def __init__(self, config: EdgeConfig) -> None:
        self._config = config

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        base = self._config.origins[origin_id or self._config.default_origin]
        response = await fetch(
            base + target,
            method=method,
            headers=dict(headers.items()),
            body=body if body and method not in ("GET", "HEAD") else None,
        )
        payload = await response.bytes()
        return EdgeResponse(response.status, Headers(dict(response.headers).items()), payload)


class _DurableRevocations:
    def __init__(self, env: Any) -> None:
        self._env = env

    def _stub(self) -> Any:
        return self._env.REVOCATIONS.getByName("global")

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        return bool(await self._stub().is_revoked(key_id, database_id))

    async def revoke(self, key_ids: list[str], database_ids: list[str]) -> None:
        await self._stub().revoke(json.dumps(key_ids), json.dumps(database_ids))


class _WorkerCache:
    """`caches.default` as the cache's ResponseCache port (synthetic GET URLs, real Responses)."""

    async def match(self, url: str) -> EdgeResponse | None:
        found = await js.caches.default.match(url)
        if found is None:
            return None
        body = bytes((await found.arrayBuffer()).to_py())
        headers = Headers((str(pair[0]), str(pair[1])) for pair in found.headers.entries())
        return EdgeResponse(int(found.status), headers, body)

    async def put(self, url: str, response: EdgeResponse) -> None:
        stored = Response(response.body, status=response.status, headers=dict(response.headers.items()))
        await js.caches.default.put(url, stored.js_object)


class _DurableTagVersions:
    """One TagVersions Durable Object per database, called over RPC with JSON strings."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def _stub(self, database_id: str) -> Any:
        return self._env.TAG_VERSIONS.getByName(database_id)

    async def read(self, database_id: str, tags: list[str]) -> Versions:
        return Versions.from_json(str(await self._stub(database_id).read(json.dumps(tags))))

    async def bump(self, database_id: str, tags: list[str]) -> Versions:
        return Versions.from_json(str(await self._stub(database_id).bump(json.dumps(tags))))

    async def hold(self, database_id: str, tx_id: str, tags: list[str]) -> None:
        await self._stub(database_id).hold(tx_id, json.dumps(tags))

    async def release(self, database_id: str, tx_id: str, commit: bool) -> Versions:
        return Versions.from_json(str(await self._stub(database_id).release(tx_id, bool(commit))))


class _WorkerContext:
    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def wait_until(self, awaitable: Any) -> None:
        self._ctx.waitUntil(asyncio.ensure_future(awaitable))


def _js_object(value: dict[str, Any]) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


def _queue_answer(raw: Any) -> dict[str, Any]:
    """An EventQueue RPC's JSON answer; its `error` (a refused batch or part) raised again here."""
    answer: dict[str, Any] = json.loads(str(raw))
    if "error" in answer:
        raise InvalidBatch(answer["error"])
    return answer


class _DurableQueues:
    """The EventQueue namespace as the core's QueuesPort: RPC for appends, fetch for sockets."""

    def __init__(self, env: Any) -> None:
        self._namespace = getattr(env.EVENT_QUEUES, "_binding", env.EVENT_QUEUES)

    async def append(self, database_id: str, body: str) -> dict[str, Any]:
        return _queue_answer(await self._namespace.getByName(database_id).append(body))

    async def append_part(
        self, database_id: str, offset: str, index: int, count: int, text: str
    ) -> dict[str, Any]:
        return _queue_answer(
            await self._namespace.getByName(database_id).append_part(offset, index, count, text)
        )

    async def connect(self, database_id: str, subscription: dict[str, Any], key_id: str, request: Any) -> Any:
        headers = {"upgrade": "websocket", SUBSCRIPTION_HEADER: json.dumps(subscription), KEY_HEADER: key_id}
        upgrade = js.Request.new(f"https://queue/{database_id}", _js_object({"headers": headers}))
        return await self._namespace.getByName(database_id).fetch(upgrade)

    async def revoke(self, database_id: str, key_ids: list[str], everything: bool) -> int:
        return int(await self._namespace.getByName(database_id).revoke(json.dumps(key_ids), bool(everything)))


def _get_app(env: Any) -> EdgeApp:
    global _app
    if _app is None:
        values = _env_mapping(env)
        config = EdgeConfig.from_env(values)
        revocations = RevocationView(_DurableRevocations(env), time.time, config.revocation_ttl)
        cache = CacheParts(_WorkerCache(), _DurableTagVersions(env), CacheSettings.from_env(values))
        _app = EdgeApp(config, _WorkerOrigin(config), revocations, time.time, cache)
        EventRoutes(_app, _DurableQueues(env)).install()
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
        response = await app.handle(await _edge_request(request), _WorkerContext(self.ctx))
        if response.native is not None:
            return Response(response.native)  # the queue's 101 with the consumer's WebSocket
        return _native(response)


class Revocations(DurableObject):
    """The one, strongly consistent revocation list (a single instance named "global")."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.store = RevocationStore(_WorkerSql(ctx.storage), time.time)

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        return self.store.is_revoked(key_id, database_id)

    async def revoke(self, key_ids_json: str, database_ids_json: str) -> None:
        self.store.revoke(json.loads(key_ids_json), json.loads(database_ids_json))


class TagVersions(DurableObject):
    """Cache tag versions of one database (named by its id); see bwedge.cache.versions."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.store = TagVersionStore(_WorkerSql(ctx.storage), time.time)

    async def read(self, tags_json: str) -> str:
        return self.store.read(json.loads(tags_json)).to_json()

    async def bump(self, tags_json: str) -> str:
        return self.store.bump(json.loads(tags_json)).to_json()

    async def hold(self, tx_id: str, tags_json: str) -> None:
        self.store.hold(tx_id, json.loads(tags_json))

    async def release(self, tx_id: str, commit: bool) -> str:
        return self.store.release(tx_id, bool(commit)).to_json()


class _R2Blobs:
    """An R2 bucket as the event log's tier 2."""

    def __init__(self, bucket: Any) -> None:
        self._bucket = getattr(bucket, "_binding", bucket)

    async def put(self, key: str, text: str) -> None:
        await self._bucket.put(key, text)

    async def get(self, key: str) -> str | None:
        found = await self._bucket.get(key)
        if found is None or found is _JS_NULL:
            return None
        return str(await found.text())

    async def delete(self, keys: list[str]) -> None:
        await self._bucket.delete(to_js(keys))


class _HibernatableSockets:
    """Sockets accepted with the hibernation API, found again by their id tag after a wake-up."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def get(self, socket_id: str) -> eventqueue.Socket | None:
        found = list(self._ctx.getWebSockets(socket_id))
        return _Socket(found[0]) if found else None


class _Socket:
    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def send(self, text: str) -> None:
        self._ws.send(text)

    def close(self, code: int, reason: str) -> None:
        self._ws.close(code, reason)


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
            _WorkerSql(ctx.storage),
            _R2Blobs(env.EVENTS_BUCKET),
            _HibernatableSockets(ctx),
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
        await self.queue.open(socket_id, subscription, "" if key_id in (None, _JS_NULL) else str(key_id))
        return Response(None, status=101, web_socket=client)

    async def revoke(self, key_ids_json: str, everything: bool) -> int:
        return await self.queue.revoke(json.loads(key_ids_json), bool(everything))

    async def webSocketMessage(self, ws: Any, message: Any) -> None:
        await self.queue.message(str(ws.deserializeAttachment()), str(message))

    async def webSocketClose(self, ws: Any, code: int, reason: str, was_clean: bool) -> None:
        await self.queue.closed(str(ws.deserializeAttachment()))

    async def webSocketError(self, ws: Any, error: Any) -> None:
        await self.queue.closed(str(ws.deserializeAttachment()))

    async def alarm(self, *_info: Any) -> None:
        await self.queue.alarm()
