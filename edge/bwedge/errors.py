"""The edge's errors: one class, codes from the registry (`bwcontract.codes`), rendered to HTTP in
exactly one place (`response`). An error's status is its code's, unless it says otherwise (an
origin that cannot be reached is a 502 with Prisma's P6000)."""

from __future__ import annotations

from bwcontract.codes import Code

from .http import EdgeResponse


class EdgeError(Exception):
    def __init__(self, code: Code, message: str, hint: str = "", *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.status = code.status if status is None else status

    def response(self) -> EdgeResponse:
        body: dict[str, str] = {"code": self.code.value, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return EdgeResponse.json(self.status, body, {"Prisma-Error-Code": self.code.value})


def invalid_key(reason: str) -> EdgeError:
    return EdgeError(
        Code.KEY_INVALID,
        f"API key is invalid: {reason}.",
        "Use the connection URL printed by `breakwater key create`, with the key in ?api_key= "
        "or an `Authorization: Bearer` header.",
    )


def forbidden(message: str, hint: str) -> EdgeError:
    return EdgeError(Code.READ_ONLY, message, hint)


def not_found(path: str) -> EdgeError:
    return EdgeError(
        Code.NOT_FOUND, f"No route for {path}.", "See the README for the routes the edge serves."
    )


def payload_too_large(limit: int, size: int | None = None) -> EdgeError:
    measured = f" ({size} bytes)" if size is not None else ""
    return EdgeError(
        Code.BODY_TOO_LARGE,
        f"The request body is larger than the limit of {limit} bytes{measured}.",
        "Send less per request (split a createMany into batches).",
    )


def origin_unreachable(detail: str) -> EdgeError:
    return EdgeError(
        Code.UNEXPECTED,
        f"The origin could not be reached: {detail}.",
        "Check that the origin is running.",
        status=502,
    )


def unexpected(request_id: str) -> EdgeError:
    return EdgeError(
        Code.UNEXPECTED, f"The edge failed unexpectedly (request id {request_id}); the error is in its log."
    )
