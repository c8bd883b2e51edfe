"""Errors to HTTP, in one place; and the body ceiling every request meets before it is read."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bwcontract.codes import Code

from .errors import BreakwaterError
from .limits import payload_too_large

log = logging.getLogger("breakwater.origin")


def error_headers(exc: BreakwaterError) -> dict[str, str]:
    headers = {"Prisma-Error-Code": exc.code.value}
    if exc.status == 429:
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


class UnexpectedErrors:
    """The origin answers its own bugs: a 500 with a code and the request id, and the exception stays
    here. Starlette's outermost error middleware re-raises after answering, and uvicorn then closes the
    connection, which is the edge's pooled keep-alive connection: other requests about to reuse it
    would fail with 502. So nothing may escape the app; this wraps it just inside that middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            request_id = _request_id(scope)
            log.error(
                "unexpected error",
                exc_info=exc,
                extra={"fields": {"path": scope.get("path"), "request_id": request_id}},
            )
            if started:
                return  # half a response is out: the server ends it by closing, nothing else can
            body = json.dumps(unexpected_body(request_id)).encode()
            await send(
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
            await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuses a body over `max_bytes` (BW1413) before reading it when it announces its length, and
    stops reading one that grows past it; the per-database limit is checked once the caller is known."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = _content_length(scope)
        if announced is not None and announced > self.max_bytes:
            response = error_response(payload_too_large("request body", self.max_bytes, announced))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise payload_too_large("request body", self.max_bytes)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    headers: Any = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
