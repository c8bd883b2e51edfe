"""Which requests are cacheable reads, what identifies them, and what a write may have changed.

The edge reads the JSON-protocol body itself (Prisma 6 `…/graphql`, `/v1/query`) and the plan body
(Prisma 7 `/query`), but it does not know the schema: the models a query reads or writes come from
the origin's `x-breakwater-models-read/-written` headers. What is decided here from the body alone
is only the fallback for when the origin says nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..http import EdgeRequest
from ..routes import Route
from . import tags
from .key import canonical, fingerprint

# Actions whose result depends only on the data they read.
READ_ACTIONS = frozenset(
    {
        "findUnique",
        "findUniqueOrThrow",
        "findFirst",
        "findFirstOrThrow",
        "findMany",
        "aggregate",
        "groupBy",
        "count",
    }
)
RAW_ACTIONS = frozenset({"queryRaw", "executeRaw", "runCommandRaw", "findRaw", "aggregateRaw"})

# Request headers that change the response body (Prisma's telemetry adds logs to it).
_VARYING_HEADERS = ("x-capture-telemetry",)


@dataclass(frozen=True)
class Shape:
    """What the edge knows about one query request before the origin has seen it."""

    cacheable: bool
    reason: str  # why not cacheable: write | raw | batch | transaction | not-json | not-a-query
    model: str | None = None
    material: str = ""  # the key material of a cacheable read
    # Model tags a write may have changed, used only when the origin's response does not say;
    # (ALL,) when the scope is unknown (raw SQL, a write with no model).
    guessed_writes: tuple[str, ...] = ()


def shape_of(route: Route, request: EdgeRequest, with_material: bool = True) -> Shape:
    """`with_material`: whether a cacheable read needs its key material (only a request with a cache
    strategy does; the material encodes the whole body, a large part of a miss's work)."""
    if request.method != "POST":
        return Shape(False, "not-a-query")
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        return Shape(False, "not-json")
    if not isinstance(body, dict):
        return Shape(False, "not-json")
    if route.tx_id is not None or request.headers.get("x-transaction-id"):
        shape = _plan_shape(body) if route.protocol == "prisma7" else _json_shape(body)
        return Shape(False, "transaction", shape.model, guessed_writes=shape.guessed_writes)
    shape = _plan_shape(body) if route.protocol == "prisma7" else _json_shape(body)
    if not shape.cacheable or not with_material:
        return shape
    try:
        material = _material(route, request, body)
    except (RecursionError, TypeError):
        return Shape(False, "not-json")
    return Shape(True, "", shape.model, material)


def _json_shape(body: dict[str, Any]) -> Shape:
    """Prisma 6 / `/v1`: `{modelName, action, query}` or `{batch: […], transaction?}`."""
    batch = body.get("batch")
    if isinstance(batch, list):
        guessed: set[str] = set()
        for item in batch:
            guessed.update(_json_shape(item).guessed_writes if isinstance(item, dict) else (tags.ALL,))
        return Shape(False, "batch", guessed_writes=_collapse(guessed))
    action = body.get("action")
    model = body.get("modelName")
    model = model if isinstance(model, str) and model else None
    return _by_action(action if isinstance(action, str) else "", model)


def _plan_shape(body: dict[str, Any]) -> Shape:
    """Prisma 7: `{model?, operation, plan, params}`."""
    operation = body.get("operation")
    model = body.get("model")
    model = model if isinstance(model, str) and model else None
    return _by_action(operation if isinstance(operation, str) else "", model)


def _by_action(action: str, model: str | None) -> Shape:
    if action in READ_ACTIONS:
        return Shape(True, "", model)
    if action in RAW_ACTIONS:
        return Shape(False, "raw", model, guessed_writes=(tags.ALL,))
    # A write, or an action this edge does not know: assume it may write.
    return Shape(False, "write", model, guessed_writes=(tags.model(model),) if model else (tags.ALL,))


def _collapse(guessed: set[str]) -> tuple[str, ...]:
    return (tags.ALL,) if tags.ALL in guessed else tuple(sorted(guessed))


def _material(route: Route, request: EdgeRequest, body: dict[str, Any]) -> str:
    """The query's identity: protocol, schema or plan-format identity, varying headers, the body."""
    if route.protocol == "prisma7":
        # The plan is the whole query, in the plan format of this client version. `comments` are
        # SQL comments (sqlcommenter) that can carry per-request trace ids and never change results.
        identity = "plan:" + (request.headers.get("prisma-engine-hash") or "")
        body = {k: v for k, v in body.items() if k != "comments"}
        encoded = fingerprint(body, request.body, ordered=True)
    else:
        # Prisma 6 paths carry the client version and the schema hash; /v1 uses the live schema.
        identity = f"{route.protocol}:{request.path}"
        encoded = fingerprint(body, request.body)
    varying = [f"{name}={request.headers.get(name) or ''}" for name in _VARYING_HEADERS]
    params = sorted((k, v) for k, v in request.query.items() if k != "api_key")
    return "\n".join([identity, *varying, canonical([list(p) for p in params]), encoded])


class KnownShapes:
    """`shape_of`, remembered for requests this isolate has seen: a repeated query (what a cache hit
    is) costs a dict lookup instead of a JSON parse and a canonical encoding of its body.

    `shape_of` is a function of exactly what the key holds (route, method, URL, the headers it
    reads, body), so a remembered shape is the one it would compute. Bodies over `max_body` bytes
    are not kept; the map is bounded in bytes and starts over when full.
    """

    def __init__(self, max_body: int = 16 * 1024, max_bytes: int = 4 * 1024 * 1024) -> None:
        self._max_body = max_body
        self._max_bytes = max_bytes
        self._bytes = 0
        self._known: dict[tuple[Any, ...], Shape] = {}

    def of(self, route: Route, request: EdgeRequest, with_material: bool = True) -> Shape:
        body = request.body
        if len(body) > self._max_body:
            return shape_of(route, request, with_material)
        headers = request.headers
        key = (
            with_material,
            route,
            request.method,
            request.url,
            headers.get("x-transaction-id"),
            headers.get("prisma-engine-hash"),
            *[headers.get(name) for name in _VARYING_HEADERS],
            body,
        )
        found = self._known.get(key)
        if found is None:
            found = shape_of(route, request, with_material)
            size = len(body) + len(request.url) + len(found.material) + 200
            if self._bytes + size > self._max_bytes:
                self._known.clear()
                self._bytes = 0
            self._known[key] = found
            self._bytes += size
        return found
