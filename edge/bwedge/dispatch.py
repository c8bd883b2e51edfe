"""Sending one request to an origin: which origin, and what to do when it cannot be reached.

Each attempt is signed for the one origin it goes to (a signature names its origin, which accepts it
once: bwcontract/service.py), so a request sent again is signed again, for its new origin. What may
be sent again is decided from what is certain about the attempt that failed:
- it never reached the origin (the connection was refused or not made; Cloudflare's 521/522/523,
  which say so; the origin refused the signature as older than itself, BW2011, or could not note it,
  BW2012, and ran nothing): any request goes to the next origin (`OriginSet.order`);
- it may have reached the origin (the connection broke after the request went out, the answer never
  came): a read goes to the next origin, since running it twice is running it once; anything else is
  never sent again, and the caller hears BW3101 (503) that it may or may not have run.
A request of an interactive transaction goes only to the origin holding it (`bwcontract.txid`): if
that origin cannot be reached, the transaction is gone with it (its session ended, Postgres rolled it
back), and the caller hears P2028.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bwcontract import service
from bwcontract.codes import Code

from . import errors
from .cache.classify import READ_ACTIONS
from .errors import EdgeError
from .http import EdgeRequest, EdgeResponse, Headers
from .origins import HEALTH_PATH, OriginSet
from .ports import Clock, Context, OriginPort, OriginUnreachable
from .routes import Route

# Answers from in front of an origin that say the request never reached it (Cloudflare: refused,
# timed out connecting, unreachable).
NOT_REACHED_STATUSES = frozenset({521, 522, 523})
# The origin's own answers that say it ran nothing and a new signature would do.
SIGN_AGAIN = frozenset({Code.SIGNED_BEFORE_START.value, Code.REPLAY_GUARD_FULL.value})


@dataclass(frozen=True)
class Outbound:
    """A request on its way to an origin, before it is signed for one."""

    method: str
    target: str  # path and query, as the origin sees them
    headers: Headers
    body: bytes
    claims: dict[str, object]
    pinned: str | None = None  # the origin holding the request's transaction
    repeatable: bool = False  # running it twice is running it once


def repeatable(route: Route, request: EdgeRequest) -> bool:
    """Reads, a schema upload, a stream's check: what may run again if an attempt broke midway."""
    if route.tx_id is not None or route.kind == "tx_start" or request.headers.get("x-transaction-id"):
        return False
    if route.kind in ("schema", "connection_info", "stream") or request.method == "GET":
        return True
    if route.kind != "query":
        return False
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        return False
    if not isinstance(body, dict):
        return False
    if route.protocol == "prisma7":
        return _is_read(body.get("operation"))
    batch = body.get("batch")
    items = batch if isinstance(batch, list) else [body]
    return bool(items) and all(isinstance(i, dict) and _is_read(i.get("action")) for i in items)


def _is_read(action: object) -> bool:
    # Any JSON value may stand where an action belongs (a tenant's body is not yet validated here).
    return isinstance(action, str) and action in READ_ACTIONS


class Dispatcher:
    def __init__(self, origins: OriginSet, port: OriginPort, secret: bytes, clock: Clock) -> None:
        self.origins = origins
        self.port = port
        self.secret = secret
        self.clock = clock

    async def send(self, outbound: Outbound, ctx: Context) -> EdgeResponse:
        for origin_id in self.origins.due_probes():
            ctx.wait_until(self._probe(origin_id))
        if outbound.pinned is not None:
            return await self._send_pinned(outbound, outbound.pinned)
        unreached: list[str] = []
        for origin_id in self.origins.order():
            try:
                response = await self._attempt(outbound, origin_id)
            except OriginUnreachable as exc:
                if exc.delivered and not outbound.repeatable:
                    raise lost(origin_id, exc.detail) from None
                unreached.append(f"{origin_id}: {exc.detail}")
                continue
            if response is not None:
                return response
            unreached.append(f"{origin_id}: it ran nothing and asked for a new signature")
        raise errors.origin_unreachable("; ".join(unreached) or "no origin is configured")

    async def _send_pinned(self, outbound: Outbound, origin_id: str) -> EdgeResponse:
        for _ in range(2):  # a second signature when the first was refused unrun
            try:
                response = await self._attempt(outbound, origin_id)
            except OriginUnreachable as exc:
                raise transaction_gone(origin_id, exc) from None
            if response is not None:
                return response
        raise transaction_gone(origin_id, OriginUnreachable("it refused the signature twice", False))

    async def _attempt(self, outbound: Outbound, origin_id: str) -> EdgeResponse | None:
        """The origin's answer, None when it certainly ran nothing and a new signature may go anywhere;
        raises OriginUnreachable (the origin is marked down)."""
        headers = outbound.headers.copy()
        headers[service.HEADER] = service.sign(
            self.secret,
            service.origin_audience(origin_id),
            outbound.claims,
            outbound.method,
            outbound.target,
            outbound.body,
            self.clock(),
        )
        self.origins.started(origin_id)
        try:
            response = await self.port.fetch(
                origin_id, outbound.method, outbound.target, headers, outbound.body
            )
        except OriginUnreachable:
            self.origins.failed(origin_id)
            raise
        finally:
            self.origins.finished(origin_id)
        if response.status in NOT_REACHED_STATUSES:
            self.origins.failed(origin_id)
            raise OriginUnreachable(f"answered {response.status} in its place", delivered=False)
        self.origins.reached(origin_id)
        if response.headers.get("prisma-error-code") in SIGN_AGAIN:
            return None
        return response

    async def _probe(self, origin_id: str) -> None:
        try:
            response = await self.port.fetch(origin_id, "GET", HEALTH_PATH, Headers(), b"")
            answered = response.status == 200
        except OriginUnreachable:
            answered = False
        self.origins.probed(origin_id, answered)


def lost(origin_id: str, detail: str) -> EdgeError:
    return EdgeError(
        Code.ORIGIN_LOST,
        f"The origin {origin_id} stopped before it answered ({detail}); the request may or may not "
        "have run, and the edge does not send a write twice.",
        "Check whether the write took effect before sending it again, or make it safe to repeat "
        "(an upsert, a unique key).",
    )


def transaction_gone(origin_id: str, exc: OriginUnreachable) -> EdgeError:
    if exc.delivered:
        what = (
            "stopped before it answered; the transaction is rolled back, unless this request was "
            "its commit and the commit took effect"
        )
    else:
        what = (
            "cannot be reached; the transaction cannot go on and is rolled back (by its timeout "
            "at the latest)"
        )
    return EdgeError(
        Code.TRANSACTION,
        f"Transaction API error: the origin {origin_id} holding this transaction {what} ({exc.detail}).",
        "Start the transaction again.",
    )
