"""The edge's errors: one class, stable codes, rendered to HTTP in exactly one place (`response`).

Codes are Prisma's where Prisma has one (the client maps them to its own error classes), otherwise
Breakwater's own `BWnnnn`, grouped by range and never reused: 1xxx request, 2xxx auth, 3xxx upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

from .http import EdgeResponse


@dataclass
class EdgeError(Exception):
    status: int
    code: str
    message: str
    hint: str = ""

    def response(self) -> EdgeResponse:
        body: dict[str, str] = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return EdgeResponse.json(self.status, body, {"Prisma-Error-Code": self.code})


def invalid_key(reason: str) -> EdgeError:
    return EdgeError(
        401,
        "P6002",
        f"API key is invalid: {reason}.",
        "Use the connection URL printed by `breakwater key create`, with the key in ?api_key= "
        "or an `Authorization: Bearer` header.",
    )


def forbidden(message: str, hint: str) -> EdgeError:
    return EdgeError(403, "BW2003", message, hint)


def not_found(path: str) -> EdgeError:
    return EdgeError(404, "BW1404", f"No route for {path}.", "See the README for the routes the edge serves.")


def bad_request(code: str, message: str, hint: str = "") -> EdgeError:
    return EdgeError(400, code, message, hint)


def payload_too_large(limit: int, size: int | None = None) -> EdgeError:
    measured = f" ({size} bytes)" if size is not None else ""
    return EdgeError(
        413,
        "BW1413",
        f"The request body is larger than the limit of {limit} bytes{measured}.",
        "Send less per request (split a createMany into batches).",
    )


def origin_unreachable(detail: str) -> EdgeError:
    return EdgeError(
        502, "P6000", f"The origin could not be reached: {detail}.", "Check that the origin is running."
    )


def unexpected(request_id: str) -> EdgeError:
    return EdgeError(
        500,
        "P6000",
        f"The edge failed unexpectedly (request id {request_id}); the error is in its log.",
    )
