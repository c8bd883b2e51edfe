"""The origin's HTTP layer: errors to HTTP, in one place; the body ceiling every request meets before it is
read; the one layer every request enters through (`OriginApp`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from bwcontract.codes import Code

from .errors import BreakwaterError
from .limits import payload_too_large
from .observe import Answer, ObservationHub, served_from
from .routes import RouteMemo

log = logging.getLogger("breakwater.origin")


def error_headers(exc: BreakwaterError) -> dict[str, str]:
    headers = {"Prisma-Error-Code": exc.code.value}
    if exc.status == 429 or "retry_after_seconds" in exc.meta:
        headers["Retry-After"] = str(exc.meta.get("retry_after_seconds", 1))
    return headers


def error_response(exc: BreakwaterError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=error_headers(exc))


async def handle_breakwater_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BreakwaterError)
    if exc.status >= 500:
        log.warning(
            "request failed",
            extra={"fields": {"path": request.url.path, "code": exc.code, "error": exc.message}},
        )
    return error_response(exc)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            return str(value.decode("latin-1"))[:128]
    return ""


def unexpected_body(request_id: str) -> dict[str, Any]:
    return {
        "code": Code.UNEXPECTED,
        "message": "The origin failed unexpectedly; the error is in its log under this request id.",
        "meta": {"requestId": request_id},
    }


class OriginApp(Starlette):
    """The origin's Starlette application, entered through one layer of its own instead of a stack of
    middleware (each of which wraps `send` and `receive` again on every request):

    - its operations are observed as answered (observe.py), the origin's own failures included;
    - it answers its own bugs: a 500 with a code and the request id, and the exception stays here.
      Starlette's outermost error middleware (left out) re-raises after answering, and uvicorn then
      closes the connection, which is the edge's pooled keep-alive connection: other requests about
      to reuse it would fail with 502. So nothing may escape the app;
    - a body over `max_body_bytes` is refused (BW1413) before it is read when it announces its length,
      and stopped when it grows past it; the per-database limit is checked once the caller is known;
    - routing remembers the router's choice per method and path (routes.py's `RouteMemo`), so the
      hot routes are not found again among ~80 patterns on every request.

    Lifespan and WebSocket scopes go through Starlette's own stack (its exception handling, the router)."""

    def __init__(
        self,
        *,
        routes: Sequence[BaseRoute],
        lifespan: Lifespan[Any] | None,
        hub: ObservationHub,
        max_body_bytes: int,
    ) -> None:
        super().__init__(
            routes=routes, lifespan=lifespan, exception_handlers={BreakwaterError: handle_breakwater_error}
        )
        self.hub = hub
        self.max_body_bytes = max_body_bytes
        self.routes_seen = RouteMemo(self.router)

    def build_middleware_stack(self) -> ASGIApp:
        # What Starlette would build, less what __call__ does itself: its error middleware (which
        # would close the connection) and the user middleware (none: the layer is __call__).
        return ExceptionMiddleware(self.routes_seen, handlers=self.exception_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        answer = Answer(send, served_from(scope), self.hub)
        try:
            announced = _content_length(scope)
            if announced is not None and announced > self.max_body_bytes:
                too_large = payload_too_large("request body", self.max_body_bytes, announced)
                await error_response(too_large)(scope, receive, answer.send)
                return
            if announced is None:  # with a length, the server hands over no more than announced
                receive = _bounded(receive, self.max_body_bytes)
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            await self.middleware_stack(scope, receive, answer.send)
        except Exception as exc:
            await _unexpected(exc, scope, answer)
        finally:
            answer.publish()  # an answer that never finished still served what ran


def _bounded(receive: Receive, max_bytes: int) -> Receive:
    """`receive`, refusing (BW1413) once the body read so far is over `max_bytes`."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > max_bytes:
            raise payload_too_large("request body", max_bytes)
        return message

    return counted


async def _unexpected(exc: Exception, scope: Scope, answer: Answer) -> None:
    request_id = _request_id(scope)
    log.error(
        "unexpected error",
        exc_info=exc,
        extra={"fields": {"path": scope.get("path"), "request_id": request_id}},
    )
    if answer.started:
        return  # half a response is out: the server ends it by closing, nothing else can
    body = json.dumps(unexpected_body(request_id)).encode()
    await answer.send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"prisma-error-code", Code.UNEXPECTED.encode()),
            ],
        }
    )
    await answer.send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    headers: Any = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
