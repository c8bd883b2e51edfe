"""Errors to HTTP, in one place."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BreakwaterError

log = logging.getLogger("breakwater.origin")


def error_response(exc: BreakwaterError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers={"Prisma-Error-Code": exc.code})


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
        "code": "P6000",
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
                        (b"prisma-error-code", b"P6000"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
