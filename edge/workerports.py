"""The Workers runtime's objects behind `bwedge`'s ports: Durable Object namespaces (revocations,
plan limits, tag versions, event queues) called over RPC, the Cache API, the origin reached with
`fetch`, Durable Object SQLite storage, R2 and hibernatable WebSockets.

Apart from `worker` (the entrypoint and the Durable Object classes) so each side stays short; like
it, only this module and `worker` touch `js` / `workers`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js
from pyodide.ffi import to_js
from workers import Response, fetch

from bwcontract.usage import PlanLimit
from bwedge import eventqueue
from bwedge.cache.ports import Versions
from bwedge.config import EdgeConfig
from bwedge.eventlog import InvalidBatch
from bwedge.http import EdgeResponse, Headers
from bwedge.ports import OriginUnreachable

SUBSCRIPTION_HEADER = "x-breakwater-subscription"
KEY_HEADER = "x-breakwater-key-id"

try:  # JS null reaches Python as pyodide.ffi.jsnull on newer Pyodide, as None before
    from pyodide.ffi import jsnull as JS_NULL
except ImportError:  # pragma: no cover
    JS_NULL = None


class WorkerSql:
    """Durable Object SQLite storage as the core's SqlStorage port."""

    def __init__(self, storage: Any) -> None:
        raw = getattr(storage, "_binding", storage)
        self._sql = raw.sql

    def exec(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = self._sql.exec(sql, *params)
        return [tuple(row) for row in cursor.raw().toArray().to_py()]


class WorkerOrigin:
    def __init__(self, config: EdgeConfig) -> None:
        self._config = config

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        base = self._config.origins[origin_id or self._config.default_origin]
        try:
            response = await fetch(
                base + target,
                method=method,
                headers=dict(headers.items()),
                body=body if body and method not in ("GET", "HEAD") else None,
                redirect="manual",  # a console form's 303 goes back to the browser, as the local edge does
            )
            payload = await response.bytes()
        except Exception as exc:
            # The runtime's fetch does not say whether the request left; when Cloudflare knows it
            # did not, it answers 521-523 instead of failing (bwedge/dispatch.py reads those).
            raise OriginUnreachable(f"{type(exc).__name__}: {exc}", delivered=True) from None
        return EdgeResponse(response.status, Headers(dict(response.headers).items()), payload)


class DurableRevocations:
    def __init__(self, env: Any) -> None:
        self._env = env

    def _stub(self) -> Any:
        return self._env.REVOCATIONS.getByName("global")

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        return bool(await self._stub().is_revoked(key_id, database_id))

    async def revoke(self, key_ids: list[str], database_ids: list[str]) -> None:
        await self._stub().revoke(json.dumps(key_ids), json.dumps(database_ids))


class DurablePlanLimits:
    """The one PlanLimits Durable Object ("global"), called over RPC with JSON strings."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def _stub(self) -> Any:
        return self._env.PLAN_LIMITS.getByName("global")

    async def get(self, database_id: str) -> PlanLimit:
        return PlanLimit.from_dict(json.loads(str(await self._stub().get(database_id))))

    async def apply(self, limits: list[PlanLimit]) -> None:
        await self._stub().apply(json.dumps([limit.as_dict() for limit in limits]))


class WorkerCache:
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


class DurableTagVersions:
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


class WorkerContext:
    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def wait_until(self, awaitable: Any) -> None:
        self._ctx.waitUntil(asyncio.ensure_future(awaitable))


def js_object(value: dict[str, Any]) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


def queue_answer(raw: Any) -> dict[str, Any]:
    """An EventQueue RPC's JSON answer; its `error` (a refused batch or part) raised again here."""
    answer: dict[str, Any] = json.loads(str(raw))
    if "error" in answer:
        raise InvalidBatch(answer["error"])
    return answer


class DurableQueues:
    """The EventQueue namespace as the core's QueuesPort: RPC for appends, fetch for sockets."""

    def __init__(self, env: Any) -> None:
        self._namespace = getattr(env.EVENT_QUEUES, "_binding", env.EVENT_QUEUES)

    async def append(self, database_id: str, body: str) -> dict[str, Any]:
        return queue_answer(await self._namespace.getByName(database_id).append(body))

    async def append_part(
        self, database_id: str, offset: str, index: int, count: int, text: str
    ) -> dict[str, Any]:
        return queue_answer(
            await self._namespace.getByName(database_id).append_part(offset, index, count, text)
        )

    async def connect(self, database_id: str, subscription: dict[str, Any], key_id: str, request: Any) -> Any:
        headers = {"upgrade": "websocket", SUBSCRIPTION_HEADER: json.dumps(subscription), KEY_HEADER: key_id}
        upgrade = js.Request.new(f"https://queue/{database_id}", js_object({"headers": headers}))
        return await self._namespace.getByName(database_id).fetch(upgrade)

    async def revoke(self, database_id: str, key_ids: list[str], everything: bool) -> int:
        return int(await self._namespace.getByName(database_id).revoke(json.dumps(key_ids), bool(everything)))

    async def figures(self, database_id: str) -> dict[str, Any]:
        return queue_answer(await self._namespace.getByName(database_id).figures())


class R2Blobs:
    """An R2 bucket as the event log's tier 2."""

    def __init__(self, bucket: Any) -> None:
        self._bucket = getattr(bucket, "_binding", bucket)

    async def put(self, key: str, text: str) -> None:
        await self._bucket.put(key, text)

    async def get(self, key: str) -> str | None:
        found = await self._bucket.get(key)
        if found is None or found is JS_NULL:
            return None
        return str(await found.text())

    async def delete(self, keys: list[str]) -> None:
        await self._bucket.delete(to_js(keys))


class HibernatableSockets:
    """Sockets accepted with the hibernation API, found again by their id tag after a wake-up."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def get(self, socket_id: str) -> eventqueue.Socket | None:
        found = list(self._ctx.getWebSockets(socket_id))
        return Socket(found[0]) if found else None


class Socket:
    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def send(self, text: str) -> None:
        self._ws.send(text)

    def close(self, code: int, reason: str) -> None:
        self._ws.close(code, reason)
