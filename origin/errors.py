"""The origin's error hierarchy. Every error has a stable code from the registry (`bwcontract.codes`:
Prisma's where Prisma has one), and its HTTP status is the code's; `http.py` turns them into
responses in one place, per protocol.
"""

from __future__ import annotations

from typing import Any

from bwcontract.codes import Code, lookup


class BreakwaterError(Exception):
    code = Code.UNEXPECTED

    def __init__(
        self, message: str, *, code: str | None = None, meta: dict[str, Any] | None = None, hint: str = ""
    ) -> None:
        """`code` overrides the class's; it is a registered code (its text is looked up, so a code
        spelled elsewhere still answers with its registered status)."""
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = lookup(code)
        self.status = self.code.status
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
    code = Code.KEY_INVALID


class Forbidden(BreakwaterError):
    code = Code.READ_ONLY


class NotFound(BreakwaterError):
    code = Code.NOT_FOUND


class BadRequest(BreakwaterError):
    code = Code.BAD_REQUEST


class QueryValidationError(BreakwaterError):
    """The query does not fit the schema; no SQL was sent."""

    code = Code.QUERY_INVALID


class KnownRequestError(BreakwaterError):
    """A Prisma user-facing error raised while running a query (P2002, P2025, ...)."""

    status = 400


class UpstreamError(BreakwaterError):
    """The database or the host agent failed in a way the caller cannot fix."""

    code = Code.UPSTREAM
