"""The origin's error hierarchy. Every error has a stable code (Prisma's where Prisma has one) and an
HTTP status; `http.py` turns them into responses in one place, per protocol.
"""

from __future__ import annotations

from typing import Any


class BreakwaterError(Exception):
    status = 500
    code = "P6000"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        meta: dict[str, Any] | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.meta = meta or {}
        self.hint = hint

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.meta:
            body["meta"] = self.meta
        if self.hint:
            body["hint"] = self.hint
        return body


class Unauthorized(BreakwaterError):
    status = 401
    code = "P6002"


class Forbidden(BreakwaterError):
    status = 403
    code = "BW2003"


class NotFound(BreakwaterError):
    status = 404
    code = "BW1404"


class BadRequest(BreakwaterError):
    status = 400
    code = "BW1001"


class QueryValidationError(BreakwaterError):
    """The query does not fit the schema; no SQL was sent."""

    status = 400
    code = "P2009"


class KnownRequestError(BreakwaterError):
    """A Prisma user-facing error raised while running a query (P2002, P2025, ...)."""

    status = 400


class UpstreamError(BreakwaterError):
    """The database or the host agent failed in a way the caller cannot fix."""

    status = 502
    code = "P6008"
