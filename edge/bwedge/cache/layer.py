"""The cache stage of the edge pipeline: the handlers `EdgeApp` registers for queries,
transaction operations and invalidation.

A cacheable read (see `classify`) with a strategy (see `policy`) is looked up under a key that folds
in its client tags' versions; a hit whose model tags are still current is served (`ttl`), or served
and refreshed in the background (`swr`); otherwise the origin answers (`miss`) and the answer is
stored when it may be. Everything else passes through (`none`), and whatever the origin says a
request wrote bumps those models' versions, so the next cached read is fresh.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bwcontract import usage
from bwcontract.codes import Code
from bwcontract.keys import KeyClaims
from bwcontract.wire import MODELS_READ, MODELS_WRITTEN, SHAPE

from .. import errors
from ..errors import EdgeError
from ..http import EdgeRequest, EdgeResponse
from ..ports import Clock, Context
from ..routes import Route
from ..usage import HitMeter
from . import classify, entry, policy, tags
from .coalesce import SingleFlight
from .key import cache_key
from .ports import ResponseCache, TagVersionsPort, Versions
from .recent import Ready, RecentEntries
from .settings import CacheSettings
from .versions import TagVersionView

Handler = Callable[[EdgeRequest, Route, KeyClaims, Context], Awaitable[EdgeResponse]]

STATUS_HEADER = "accelerate-cache-status"
# Why a response was or was not cached: stored | no-strategy | write | raw | batch | transaction |
# error | too-large; size=…; limit=… | raced-write | versions-unavailable | cache-unavailable | ….
NOTE_HEADER = "x-breakwater-cache"
# The outcomes' values, read once (an Enum member's `.value` is a Python-level descriptor).
_TTL, _SWR, _MISS = policy.Outcome.TTL.value, policy.Outcome.SWR.value, policy.Outcome.MISS.value


@dataclass(frozen=True)
class CacheParts:
    """What a runtime hands `EdgeApp` to switch the cache on."""

    store: ResponseCache
    versions: TagVersionsPort
    settings: CacheSettings


class CacheLayer:
    def __init__(
        self, parts: CacheParts, forward: Handler, clock: Clock, hits: HitMeter | None = None
    ) -> None:
        self.store = parts.store
        self.settings = parts.settings
        self.versions = TagVersionView(parts.versions, clock, parts.settings.versions_ttl)
        self.forward = forward
        self.clock = clock
        self.flight: SingleFlight[EdgeResponse] = SingleFlight()
        # What a hit would otherwise work out again each time (classify.KnownShapes, recent.py).
        self.shapes = classify.KnownShapes()
        self.recent = RecentEntries()
        self._urls: dict[tuple[Any, ...], str] = {}
        self._url_bytes = 0
        self._strategies: dict[
            tuple[str | None, str | None], tuple[policy.Strategy | None, tuple[str, ...]]
        ] = {}
        # Answers given without the origin counting them (bwedge/usage.py): hits, stale hits, and
        # misses that shared another request's origin answer.
        self.hits = hits

    def handlers(self) -> dict[str, Handler]:
        return {"query": self.query, "tx_op": self.tx_op, "invalidate": self.invalidate}

    # --- queries ----------------------------------------------------------------------------------

    async def query(
        self, request: EdgeRequest, route: Route, claims: KeyClaims, ctx: Context
    ) -> EdgeResponse:
        """A query outside a transaction: served from the cache when it asks to be and may be."""
        strategy, keyed = self._strategy(request)
        shape = self.shapes.of(route, request, with_material=strategy is not None)
        if strategy is None or not shape.cacheable:
            return await self._pass(request, route, claims, ctx, shape, shape.reason or "no-strategy")
        database_id = claims.database_id
        before = self.versions.fresh(database_id, keyed)
        if before is None:
            try:
                before = await self.versions.read(database_id, list(keyed))
            except Exception:  # the Durable Object is unreachable: answer uncached rather than fail
                return await self._pass(request, route, claims, ctx, shape, "versions-unavailable")
        url = self._url(request.parts.netloc, database_id, shape.material, before, keyed)
        now = self.clock()
        # A repeated hit is answered without a coroutine: the entry kept here, its models' versions
        # known to this isolate (the Cache API and the Durable Object are asked otherwise).
        found = self.recent.get(url, now)
        current = self.versions.unchanged(database_id, found.entry.models) if found is not None else None
        if current is None:
            found = await self._lookup(database_id, url, now)
        elif not current:
            found = None
            self.recent.drop(url)  # for good: versions only grow
        if found is not None:
            outcome = policy.outcome(now - found.entry.produced_at, strategy)
            if outcome is policy.Outcome.TTL:
                self._count(database_id, usage.HIT, found.entry.body, found.entry.headers, now)
                return self._serve(found, _TTL, now)
            if outcome is policy.Outcome.SWR:
                if not self.flight.busy(url):
                    # Not a client's request (the client had the stale answer): the origin does not count it.
                    background = dataclasses.replace(request, background=True)
                    again = (background, route, claims, ctx, url, strategy, before, shape)
                    ctx.wait_until(self.flight.run(url, functools.partial(self._refresh, *again)))
                self._count(database_id, usage.STALE, found.entry.body, found.entry.headers, now)
                return self._serve(found, _SWR, now)

        shared, leader = await self.flight.run(
            url, functools.partial(self._refresh, request, route, claims, ctx, url, strategy, before, shape)
        )
        if not leader:  # the origin counted the leader's request (or none, for a refresh), not this one
            self._count(database_id, usage.SHARED, shared.body, shared.headers)
        response = EdgeResponse(shared.status, shared.headers.copy(), shared.body)
        response.headers[STATUS_HEADER] = _MISS
        return response

    def _strategy(self, request: EdgeRequest) -> tuple[policy.Strategy | None, tuple[str, ...]]:
        """The request's strategy and the tags folded into its key, remembered per header pair (a
        refused header raises every time: only good ones are kept)."""
        headers = (request.headers.get("cache-control"), request.headers.get("accelerate-cache-tags"))
        known = self._strategies.get(headers)
        if known is None:
            strategy = policy.parse(headers[0], headers[1], self.settings)
            keyed = (tags.ALL, *(tags.client(t) for t in strategy.tags)) if strategy else ()
            if len(self._strategies) >= 1024:
                self._strategies.clear()
            known = self._strategies[headers] = (strategy, keyed)
        return known

    def _url(
        self, host: str, database_id: str, material: str, versions: Versions, keyed: tuple[str, ...]
    ) -> str:
        """The entry's synthetic URL (`cache_key` on the request's host), remembered: a hit would
        otherwise hash the query's whole material again."""
        folded = tuple([versions.tags[t] for t in keyed])
        memo = (host, database_id, material, versions.epoch, keyed, folded)
        url = self._urls.get(memo)
        if url is None:
            key = cache_key(database_id, material, versions.epoch, zip(keyed, folded, strict=True))
            url = entry.url_on(host, key)
            # Bounded like the shapes it repeats (materials are up to their bodies' size).
            self._url_bytes += len(material) + 200
            if self._url_bytes > 4 * 1024 * 1024:
                self._urls.clear()
                self._url_bytes = len(material) + 200
            self._urls[memo] = url
        return url

    def _count(
        self, database_id: str, kind: str, body: bytes, headers: Any, now: float | None = None
    ) -> None:
        if self.hits is not None:
            self.hits.record(database_id, kind, len(body), headers.get(SHAPE), now)

    async def _lookup(self, database_id: str, url: str, now: float) -> Ready | None:
        found = self.recent.get(url, now)
        if found is None:
            try:
                stored = await self.store.match(url)
            except Exception:  # a failing cache is a miss, never an error
                return None
            found = self.recent.keep(url, stored) if stored is not None else None
            if found is None:
                return None
        models = found.entry.models
        if not models:
            return found
        current = self.versions.unchanged(database_id, models)
        if current is None:
            try:
                versions = await self.versions.read(database_id, list(models))
            except Exception:
                return None
            current = all(versions.tags[t] == v for t, v in models.items())
        # Any model written since the entry was produced makes it unreachable (for good: versions
        # only grow, so this isolate stops keeping it).
        if current:
            return found
        self.recent.drop(url)
        return None

    async def _refresh(
        self,
        request: EdgeRequest,
        route: Route,
        claims: KeyClaims,
        ctx: Context,
        url: str,
        strategy: policy.Strategy,
        before: Versions,
        shape: classify.Shape,
    ) -> EdgeResponse:
        """Ask the origin, store the answer when it may be, return it (shared by coalesced misses)."""
        response = await self.forward(request, route, claims, ctx)
        produced_at = self.clock()
        note = await self._store(claims.database_id, url, strategy, before, shape, response, produced_at)
        response.headers[NOTE_HEADER] = note
        response.headers["last-modified"] = entry.http_date(produced_at)
        return response

    async def _store(
        self,
        database_id: str,
        url: str,
        strategy: policy.Strategy,
        before: Versions,
        shape: classify.Shape,
        response: EdgeResponse,
        produced_at: float,
    ) -> str:
        if response.status != 200 or _has_errors(response):
            return "error"
        if len(response.body) > self.settings.max_entry_bytes:
            return f"too-large; size={len(response.body)}; limit={self.settings.max_entry_bytes}"
        models = tags.models_from_header(response.headers.get(MODELS_READ))
        if models is None:  # the origin did not say: the query's own model is the best we know
            models = (shape.model,) if shape.model else ()
        model_tags = [tags.model(m) for m in models]
        try:
            current = await self.versions.read(database_id, model_tags)
        except Exception:
            return "versions-unavailable"
        # A model bumped after this query started may not be in the answer: storing it under the
        # new version would serve pre-write data as current.
        if current.epoch != before.epoch or any(v > before.seq for v in current.tags.values()):
            return "raced-write"
        stored = entry.CacheEntry(response.status, response.headers, response.body, produced_at, current.tags)
        encoded = entry.encode(stored, strategy.lifetime)
        try:
            await self.store.put(url, encoded)
        except Exception:
            return "cache-unavailable"
        self.recent.keep(url, encoded)  # as a match would find it, for this isolate's next hits
        return "stored"

    def _serve(self, found: Ready, status: str, now: float) -> EdgeResponse:
        age = str(max(int(now - found.entry.produced_at), 0))
        headers = found.entry.headers.with_lowered(
            ((STATUS_HEADER, status), ("last-modified", found.last_modified), ("age", age))
        )
        return EdgeResponse(found.entry.status, headers, found.entry.body)

    async def _pass(
        self,
        request: EdgeRequest,
        route: Route,
        claims: KeyClaims,
        ctx: Context,
        shape: classify.Shape,
        reason: str,
    ) -> EdgeResponse:
        """Not cached: forward, and bump whatever the request wrote."""
        response = await self.forward(request, route, claims, ctx)
        written = _written(response, shape)
        if written:
            try:
                await self.versions.bump(claims.database_id, list(written))
            except Exception:
                # The write happened; failing the response would make clients retry it.
                reason = f"{reason}; invalidation-failed"
        response.headers[STATUS_HEADER] = "none"
        response.headers[NOTE_HEADER] = reason
        response.headers["last-modified"] = entry.http_date(self.clock())
        return response

    # --- transactions -----------------------------------------------------------------------------

    async def tx_op(
        self, request: EdgeRequest, route: Route, claims: KeyClaims, ctx: Context
    ) -> EdgeResponse:
        """Inside a transaction nothing is cached; writes are bumped when the transaction commits."""
        response = await self.forward(request, route, claims, ctx)
        database_id, tx_id = claims.database_id, route.tx_id or ""
        note = "transaction"
        try:
            if route.tx_op in ("commit", "rollback"):
                committed = route.tx_op == "commit" and 200 <= response.status < 300
                await self.versions.release(database_id, tx_id, committed)
                also = tags.models_from_header(response.headers.get(MODELS_WRITTEN))
                if committed and also:
                    await self.versions.bump(database_id, [tags.model(m) for m in also])
            else:
                written = _written(response, classify.shape_of(route, request))
                if written:
                    await self.versions.hold(database_id, tx_id, list(written))
        except Exception:
            note = "transaction; invalidation-failed"
        response.headers[STATUS_HEADER] = "none"
        response.headers[NOTE_HEADER] = note
        return response

    # --- invalidation -----------------------------------------------------------------------------

    async def invalidate(
        self, request: EdgeRequest, route: Route, claims: KeyClaims, ctx: Context
    ) -> EdgeResponse:
        """`POST /invalidate` (`$accelerate.invalidate`) and `/v1/invalidate`:
        `{"tags": [...]}`, `{"tags": "all"}`, and for `/v1` also `{"models": [...]}`."""
        if not claims.allows_writes():
            raise errors.forbidden(
                "Invalidating the cache needs a read-write or admin key; this key is read-only.",
                "Create a read-write key with `breakwater key create NAME`.",
            )
        body = self.parse_invalidation(_invalidation_body(request))
        await self.apply_invalidation(claims.database_id, body)
        return EdgeResponse.json(200, {"invalidated": body}, {STATUS_HEADER: "none"})

    async def apply_invalidation(self, database_id: str, body: dict[str, Any]) -> None:
        """Bump the tags of a validated invalidation body (`_invalidation_body`)."""
        if body.get("tags") == "all":
            bumped = [tags.ALL]
        else:
            bumped = [tags.client(t) for t in body.get("tags", [])]
            bumped += [tags.model(m) for m in body.get("models", [])]
        if not bumped:
            return
        try:
            await self.versions.bump(database_id, bumped)
        except Exception:
            raise EdgeError(
                Code.CACHE_VERSIONS,
                "The cache's tag versions could not be updated, so nothing was invalidated.",
                "Retry the invalidation.",
            ) from None

    def parse_invalidation(self, payload: Any) -> dict[str, Any]:
        """Validate `{"tags": [...] | "all", "models"?: [...]}`."""
        if not isinstance(payload, dict) or not set(payload) <= {"tags", "models"} or not payload:
            raise EdgeError(
                Code.INVALIDATION,
                'An invalidation is {"tags": ["tag", ...]} or {"tags": "all"}.',
                '`/v1/invalidate` also takes {"models": ["Model", ...]}.',
            )
        result: dict[str, Any] = {}
        raw_tags = payload.get("tags", [])
        if raw_tags == "all":
            result["tags"] = "all"
        elif isinstance(raw_tags, list):
            result["tags"] = list(tags.validate(raw_tags, self.settings.max_invalidate_tags, "tags"))
        else:
            raise EdgeError(Code.INVALIDATION, '`tags` is a list of tags or the string "all".')
        raw_models = payload.get("models", [])
        if not isinstance(raw_models, list) or not all(isinstance(m, str) for m in raw_models):
            raise EdgeError(Code.INVALIDATION, "`models` is a list of model names.")
        models = tags.models_from_header(",".join(raw_models)) or ()
        if len(models) != len(set(raw_models)) or len(models) > self.settings.max_invalidate_tags:
            raise EdgeError(
                Code.INVALIDATION,
                "`models` holds names without spaces or commas, at most "
                f"{self.settings.max_invalidate_tags} of them.",
            )
        if models:
            result["models"] = list(models)
        return result


def _invalidation_body(request: EdgeRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        raise EdgeError(Code.INVALIDATION, "The invalidation body is not JSON.") from None


def _has_errors(response: EdgeResponse) -> bool:
    """JSON-protocol query errors come back with status 200 and an `errors` member."""
    if b'"errors"' not in response.body:
        return False
    try:
        payload = json.loads(response.body)
    except (ValueError, RecursionError):
        return True
    return not isinstance(payload, dict) or "errors" in payload


def _written(response: EdgeResponse, shape: classify.Shape) -> tuple[str, ...]:
    """Model tags to bump after a request: what the origin says it wrote, else the body's guess."""
    said = tags.models_from_header(response.headers.get(MODELS_WRITTEN))
    if said is not None:
        return tuple(tags.model(m) for m in said)
    if tags.models_from_header(response.headers.get(MODELS_READ)) is not None:
        return ()  # the origin described the request as a read
    if 200 <= response.status < 300:
        return shape.guessed_writes
    return ()
