"""The edge's request pipeline: route → authenticate → authorize → (cache) → forward to the origin.

Runtime-neutral: the Worker shell and edge_local both build an `EdgeApp` over their own ports and
call `handle` for every request.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlencode

from bwcontract import keys, service, usage, wire
from bwcontract.codes import Code
from bwcontract.keys import KeyClaims
from bwcontract.txid import origin_of

from . import console, errors, planlimits, routes
from .cache.layer import CacheLayer, CacheParts
from .config import EdgeConfig
from .dispatch import Dispatcher, Outbound, repeatable
from .errors import EdgeError
from .http import EdgeRequest, EdgeResponse, Headers
from .lines import FullLines
from .origins import OriginSet
from .planlimits import PlanLimitView
from .ports import Clock, Context, OriginPort, OriginUnreachable
from .revocation import RevocationView
from .usage import HitJournal, HitMeter, MemoryJournal
from .verified import VerifiedKeys

log = logging.getLogger("breakwater.edge")

# Headers that describe one hop, or that only the edge may see.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "authorization",
        "cookie",
        service.HEADER,
    }
)
_NOT_RETURNED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date", "server"}
)

Handler = Callable[[EdgeRequest, routes.Route, KeyClaims, Context], Awaitable[EdgeResponse]]
# Calls from the origin on `/_bw/...` routes, given the verified service claims.
InternalHandler = Callable[[EdgeRequest, service.ServiceClaims], Awaitable[EdgeResponse]]
# Called after the event queue stored a batch: (database id, model names the batch changed).
ChangeListener = Callable[[str, list[str]], Awaitable[None]]
# Called after a revocation is recorded: ({key id: its database id}, deleted database ids).
RevocationListener = Callable[[dict[str, str], list[str]], Awaitable[None]]


class EdgeApp:
    def __init__(
        self,
        config: EdgeConfig,
        origin: OriginPort,
        revocations: RevocationView,
        clock: Clock,
        cache: CacheParts | None = None,
        plan_limits: PlanLimitView | None = None,
        hit_journal: HitJournal | None = None,
        *,
        hits_written_every: float | None = None,
    ):
        self.config = config
        self.origin = origin
        self.revocations = revocations
        self.clock = clock
        self.full_lines = FullLines(clock)
        # Signatures checked once per key and isolate (verified.py); revocation on every request.
        self.verified_keys = VerifiedKeys(config.key_secrets, clock)
        # Databases over their workspace's limit (P6003), and the cache hits the origin never sees.
        self.plan_limits = plan_limits
        self.usage: HitMeter | None = None
        if config.usage_metering and cache is not None:
            self.usage = HitMeter(
                hit_journal if hit_journal is not None else MemoryJournal(),
                self._send_hits,
                clock,
                config.usage_flush_seconds,
                config.usage_batch_hits,
                # A failed delivery is tried again a little later than the next flush would be.
                retry_seconds=2.5 * config.usage_flush_seconds,
                write_seconds=hits_written_every if hit_journal is not None else None,
            )
        self.origins = OriginSet(list(config.origins), clock)
        self.dispatcher = Dispatcher(self.origins, origin, config.service_secrets[0], clock)
        # Route kinds served by authenticated handlers; capabilities register theirs here.
        self.handlers: dict[str, Handler] = {
            "query": self.forward,
            "schema": self.forward,
            "tx_start": self.forward,
            "tx_op": self.forward,
            "connection_info": self.forward,
            "usage": self.forward,
            "insights": self.forward,
        }
        self.internal_handlers: dict[str, InternalHandler] = {
            "limits_push": self._pushed_limits,
            "usage_flush": self._flush_usage,
        }
        # Change events bump cache tag versions through here (the cache registers a listener).
        self.change_listeners: list[ChangeListener] = []
        # What else ends when a key is revoked (the event routes close its streams).
        self.revocation_listeners: list[RevocationListener] = []
        # The query cache wraps the query and transaction handlers and serves invalidation.
        self.cache = CacheLayer(cache, self.forward, clock, self.usage) if cache is not None else None
        if self.cache is not None:
            self.handlers.update(self.cache.handlers())
            self.internal_handlers["invalidate_push"] = self._pushed_invalidation
            self.change_listeners.append(self._changed_models)

    def refuse_body(self, content_length: str | None) -> EdgeResponse | None:
        """The answer to a request whose announced body is over the limit, so a runtime shell need not
        read it; None to go on (the length is checked again once read: it may not be announced)."""
        try:
            size = int(content_length) if content_length else None
        except ValueError:
            return EdgeError(Code.BAD_REQUEST, "The Content-Length header is not a number.").response()
        if size is not None and size > self.config.max_request_bytes:
            return errors.payload_too_large(self.config.max_request_bytes, size).response()
        return None

    async def handle(self, request: EdgeRequest, ctx: Context) -> EdgeResponse:
        try:
            if len(request.body) > self.config.max_request_bytes:
                raise errors.payload_too_large(self.config.max_request_bytes, len(request.body))
            route = routes.classify(request.method, request.path)
            if route is None or (
                route.kind not in self.handlers and route.protocol not in ("edge", "console")
            ):
                raise errors.not_found(request.path)
            if route.kind == "health":
                return EdgeResponse.json(
                    200,
                    {"status": "ok", "instance": self.config.instance_id, "origins": self.origins.figures()},
                )
            if route.kind in self.internal_handlers:
                return await self.internal_handlers[route.kind](request, self.verify_service(request))
            if route.kind == "internal":
                return await self._internal(request)
            if route.kind == "console":
                return await self.forward_console(request, ctx)
            claims = self._signed_claims(request)
            revoked = self.revocations.fresh(claims.key_id, claims.database_id)
            if revoked is None:  # asked only when this isolate does not know: a hit makes no coroutine
                revoked = await self.revocations.is_revoked(claims.key_id, claims.database_id)
            if revoked:
                raise errors.invalid_key("this key has been revoked")
            if self.plan_limits is not None and planlimits.runs_operations(route):
                limit = self.plan_limits.fresh(claims.database_id) or await self.plan_limits.get(
                    claims.database_id
                )
                if limit.state == usage.STOPPED:
                    return planlimits.refusal(limit)
            response = await self.handlers[route.kind](request, route, claims, ctx)
            if self.usage is not None and self.usage.due():
                ctx.wait_until(self.usage.flush())
            return response
        except EdgeError as exc:
            return exc.response()
        except Exception as exc:
            # A bug of ours: answer it here with a code and the request id rather than let the
            # runtime turn it into a bare 500 (or, in the Worker, an exception page).
            request_id = request.headers.get("x-request-id") or secrets.token_hex(8)
            log.error(
                "unexpected error",
                exc_info=exc,
                extra={"fields": {"path": request.path, "request_id": request_id}},
            )
            return errors.unexpected(request_id).response()

    def _signed_claims(self, request: EdgeRequest) -> KeyClaims:
        """The claims of the request's key, its signature checked, for the database it names."""
        query = request.query
        key = keys.key_from_request(request.headers.get("authorization"), query)
        try:
            claims = self.verified_keys.verify(key)
        except keys.InvalidKey as exc:
            raise errors.invalid_key(exc.reason) from None
        named = request.headers.get("x-breakwater-database") or query.get("database")
        if named and named not in (claims.database_id, claims.database_name):
            raise errors.invalid_key(f"this key is for database {claims.database_name!r}, not {named!r}")
        return claims

    async def forward(
        self, request: EdgeRequest, route: routes.Route, claims: KeyClaims, ctx: Context
    ) -> EdgeResponse:
        """Send the request on to the origin, signed, and relay the origin's answer."""
        held = self.full_lines.answer(claims.database_id, route)
        if held is not None:
            return held
        if self.plan_limits is not None and planlimits.runs_operations(route):
            # Serving cache hits only: whatever reaches this far would need the database.
            known = self.plan_limits.cached(claims.database_id)
            if known is not None and known.state != usage.OK:
                return planlimits.refusal(known)
        named = origin_of(route.tx_id) if route.tx_id else None
        if named is not None and named not in self.config.origins:
            raise EdgeError(
                Code.TRANSACTION, f"Transaction {route.tx_id} belongs to an origin this edge does not know."
            )
        claim_values: dict[str, object] = {**claims.as_dict()}
        if request.background:
            claim_values[service.BACKGROUND] = 1
        answer = await self.send(
            request, ctx, claim_values, pinned=named, may_repeat=repeatable(route, request)
        )
        self.full_lines.note(claims.database_id, route, answer)
        return answer

    async def forward_console(self, request: EdgeRequest, ctx: Context) -> EdgeResponse:
        """A console page or form: signed as the console's (no key), with its cookie (console.py)."""
        if len(request.body) > console.MAX_BODY_BYTES:
            raise errors.payload_too_large(console.MAX_BODY_BYTES, len(request.body))
        return await self.send(
            request, ctx, console.CLAIMS, may_repeat=request.method == "GET", kept=console.KEPT_HEADERS
        )

    async def send(
        self,
        request: EdgeRequest,
        ctx: Context,
        claim_values: Mapping[str, object],
        *,
        pinned: str | None = None,
        may_repeat: bool = False,
        kept: frozenset[str] = frozenset(),
    ) -> EdgeResponse:
        """Send `request` with `claim_values` to an origin (`pinned`: the one holding its transaction;
        `may_repeat`: it may run again elsewhere if an attempt broke midway) and relay its answer;
        hop-by-hop and edge-only headers stay here, except those named in `kept`."""
        target = self.origin_target(request)
        headers = Headers(
            (n, v) for n, v in request.headers.items() if n.lower() not in _NOT_FORWARDED or n.lower() in kept
        )
        parts = request.parts
        headers["x-forwarded-host"] = parts.netloc
        headers["x-forwarded-proto"] = parts.scheme or "http"
        request_id = request.headers.get("x-request-id") or secrets.token_hex(8)
        headers["x-request-id"] = request_id
        outbound = Outbound(
            request.method,
            target,
            headers,
            request.body,
            {**claim_values, "rid": request_id},
            pinned=pinned,
            repeatable=may_repeat,
        )
        # Signed for the one origin process each attempt goes to, which accepts it once (dispatch.py).
        response = await self.dispatcher.send(outbound, ctx)
        returned = Headers((n, v) for n, v in response.headers.items() if n.lower() not in _NOT_RETURNED)
        return EdgeResponse(response.status, returned, response.body)

    @staticmethod
    def origin_target(request: EdgeRequest) -> str:
        """Path and query for the origin; the API key stays at the edge."""
        query = [(k, v) for k, v in request.query.items() if k != "api_key"]
        return request.path + (f"?{urlencode(query)}" if query else "")

    def verify_service(self, request: EdgeRequest) -> service.ServiceClaims:
        """Calls from the origin are signed with the service secret (audience "edge")."""
        try:
            return service.verify(
                request.headers.get(service.HEADER),
                self.config.service_secrets,
                "edge",
                request.method,
                self.origin_target(request),
                request.body,
                self.clock(),
            )
        except service.InvalidServiceSignature as exc:
            raise EdgeError(Code.UNSIGNED, str(exc)) from None

    async def _internal(self, request: EdgeRequest) -> EdgeResponse:
        """Control-plane calls from the origin: revocations, `{key_ids, database_ids, key_databases?}`
        (`key_databases` maps a key id to its database, so that its streams can be found)."""
        self.verify_service(request)
        try:
            body = json.loads(request.body)
            key_ids = [str(k) for k in body.get("key_ids", [])]
            database_ids = [str(d) for d in body.get("database_ids", [])]
            key_databases = {str(k): str(d) for k, d in (body.get("key_databases") or {}).items()}
        except (ValueError, AttributeError, TypeError):
            raise EdgeError(
                Code.BAD_REQUEST, "expected {key_ids: [...], database_ids: [...], key_databases?: {...}}"
            ) from None
        await self.revocations.revoke(key_ids, database_ids)
        for listener in self.revocation_listeners:
            await listener(key_databases, database_ids)
        return EdgeResponse.json(200, {"revoked": {"key_ids": key_ids, "database_ids": database_ids}})

    async def _pushed_limits(self, request: EdgeRequest, _claims: service.ServiceClaims) -> EdgeResponse:
        """`{"limits": [{database_id, state, message, hint}]}` from the origin."""
        if self.plan_limits is None:
            raise EdgeError(Code.NOT_FOUND, "This edge does not enforce plan limits.")
        try:
            limits = usage.limits_from_json(request.body)
        except usage.InvalidUsage as exc:
            raise EdgeError(Code.BAD_REQUEST, f"Invalid plan limits: {exc}.") from None
        await self.plan_limits.apply(limits)
        return EdgeResponse.json(200, {"applied": len(limits)})

    async def _flush_usage(self, _request: EdgeRequest, _claims: service.ServiceClaims) -> EdgeResponse:
        """Report the cache hits counted so far now (this isolate's)."""
        delivered = await self.usage.flush() if self.usage is not None else 0
        left = len(self.usage.journal.sealed()) if self.usage is not None else 0
        return EdgeResponse.json(200, {"delivered": delivered, "waiting": left})

    async def _send_hits(self, batch: usage.HitBatch) -> None:
        """Deliver a batch of cache hits to an origin, the best placed first; returns once one answered
        that it counted it. Any origin may count it (they share the control plane, and a batch id is
        counted once), so a down origin only moves the batch to the next."""
        body = batch.to_json()
        failures: list[str] = []
        for origin_id in self.origins.order():
            headers = Headers({"content-type": "application/json"})
            headers[service.HEADER] = service.sign(
                self.config.service_secrets[0],
                service.origin_audience(origin_id),
                {"op": "hits"},
                "POST",
                wire.USAGE_HITS_PATH,
                body,
                self.clock(),
            )
            try:
                response = await self.origin.fetch(origin_id, "POST", wire.USAGE_HITS_PATH, headers, body)
            except OriginUnreachable as exc:
                self.origins.failed(origin_id)
                failures.append(f"{origin_id}: {exc.detail}")
                continue
            if response.status == 200:
                return
            failures.append(f"{origin_id} answered {response.status}: {response.body[:200]!r}")
        raise RuntimeError("no origin counted the hit batch: " + "; ".join(failures))

    async def _pushed_invalidation(
        self, request: EdgeRequest, _claims: service.ServiceClaims
    ) -> EdgeResponse:
        """`{"database_id", "tags"?, "models"?}` from the origin."""
        assert self.cache is not None
        try:
            payload = json.loads(request.body)
            database_id = payload.pop("database_id")
        except (ValueError, AttributeError, TypeError, KeyError):
            raise EdgeError(Code.INVALIDATION, "expected {database_id, tags?, models?}") from None
        if not isinstance(database_id, str) or not database_id:
            raise EdgeError(Code.INVALIDATION, "database_id must be a non-empty string")
        body = self.cache.parse_invalidation(payload)
        await self.cache.apply_invalidation(database_id, body)
        return EdgeResponse.json(200, {"invalidated": {"database_id": database_id, **body}})

    async def _changed_models(self, database_id: str, models: list[str]) -> None:
        """Change capture stored a batch: reads of those models, from any writer, are stale now."""
        assert self.cache is not None
        if models:
            await self.cache.apply_invalidation(database_id, {"models": models})
