"""Errors to HTTP, in one place."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error", exc_info=exc, extra={"fields": {"path": request.url.path}})
    return JSONResponse(
        {"code": "P6000", "message": "The origin failed unexpectedly; the error is in its log."},
        status_code=500,
        headers={"Prisma-Error-Code": "P6000"},
    )
