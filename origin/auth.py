"""Who is calling: the edge's signed service header, verified, then checked against the control plane."""

from __future__ import annotations

import time

from starlette.requests import Request

from bwcontract import service
from bwcontract.codes import Code
from bwcontract.keys import KeyClaims

from .caller import Caller
from .errors import Unauthorized
from .limits import payload_too_large
from .state import state_of


def request_target(request: Request) -> str:
    """The path and query exactly as sent, which is what the edge signed."""
    path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    return path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


def database_gone(database_id: str) -> Unauthorized:
    """What a caller hears when the pool finds its key's database deleted (the delete raced the key
    check): the key is invalid, as it is once the delete has revoked it."""
    return Unauthorized("API key is invalid: its database no longer exists.")


async def signed_by_edge(
    request: Request, hint: str = "Send requests to the edge URL, not to the origin."
) -> service.ServiceClaims:
    """The edge's signature of this request for this origin process, verified and admitted once (a
    signature seen before is refused: replay.py)."""
    state = state_of(request)
    now = time.time()
    try:
        signed = service.verify(
            request.headers.get(service.HEADER),
            state.settings.service_secrets,
            service.origin_audience(state.settings.origin_id),
            request.method,
            request_target(request),
            await request.body(),
            now,
        )
    except service.InvalidServiceSignature as exc:
        raise Unauthorized(
            f"The origin only serves requests signed by the edge: {exc}.", code=Code.UNSIGNED, hint=hint
        ) from None
    state.replays.admit(signed.issued, signed.nonce, now)
    return signed


_CALLER = "breakwater.caller"  # the request's verified caller, kept in its scope once known


async def caller_of(request: Request) -> Caller:
    cached: Caller | None = request.scope.get(_CALLER)
    if cached is not None:
        return cached
    state = state_of(request)
    signed = await signed_by_edge(request)
    try:
        caller = Caller(
            KeyClaims.from_dict(signed.values),
            str(signed.values.get("rid", "")),
            background=signed.values.get(service.BACKGROUND) == 1,
        )
    except (KeyError, ValueError):
        raise Unauthorized("The service claims are incomplete.", code=Code.UNSIGNED) from None
    if not await state.keygate.is_active(caller.key_id, caller.database_id):
        raise Unauthorized("API key is invalid: this key has been revoked or its database deleted.")
    limit = (await state.tenants.limits.of(caller.database_id)).request_bytes
    size = len(await request.body())
    if size > limit:
        raise payload_too_large("request body", limit, size)
    request.scope[_CALLER] = caller
    return caller
