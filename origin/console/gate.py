"""Every console request passes here: signed by the edge as a console request, then its session.

The edge authenticates nobody on `/console` (a browser has no API key to show it); it signs what it
forwards with the console's claims (`bwcontract.wire.CONSOLE_CLAIM`, no key), so the origin still
serves only what came through the edge, and a console request can never pass for a key's request.
The session is then the console's own (sessions.py), checked against the control plane each time:
a revoked key or a changed admin token ends it at once.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from bwcontract.codes import Code
from bwcontract.wire import CONSOLE_CLAIM

from .. import consolesessions as sessions
from ..auth import signed_by_edge
from ..errors import Forbidden, Unauthorized
from ..state import OriginState, state_of
from .viewer import Viewer


class SignInNeeded(Unauthorized):
    """No live session: pages send the browser to the sign-in form, forms answer 401."""

    code = Code.CONSOLE_SESSION


async def through_edge(request: Request) -> OriginState:
    """The edge signed this request as the console's; a signature is accepted once."""
    signed = await signed_by_edge(
        request, hint="Open the console at the edge's URL (scripts/dev prints it), not the origin's."
    )
    if signed.values.get(CONSOLE_CLAIM) != "1":
        raise Unauthorized("This request was not signed as a console request.", code=Code.UNSIGNED)
    return state_of(request)


async def viewer_of(request: Request, state: OriginState) -> Viewer:
    """The session's viewer; SignInNeeded when there is no live session."""
    token = request.cookies.get(sessions.COOKIE, "")
    # A page refreshing its figures (console.js) does not keep an unattended session alive.
    seen = request.headers.get("x-console-refresh") != "1"
    found = await state.console_sessions.find(token, seen) if token else None
    if found is None:
        raise SignInNeeded("Sign in to the console: your session has ended or there is none.")
    if found.operator:
        if found.admin_digest != sessions.digest(state.settings.admin_token):
            await state.console_sessions.end(token)
            raise SignInNeeded("The admin token changed since you signed in: sign in again.")
        return Viewer(True, None, None, sessions.csrf_token(token))
    assert found.key_id is not None and found.database_id is not None
    if not await state.keygate.is_active(found.key_id, found.database_id):
        await state.console_sessions.end_key(found.key_id)
        raise SignInNeeded("The key you signed in with was revoked (or its database deleted).")
    return Viewer(False, found.database_id, found.scope, sessions.csrf_token(token), found.key_id)


def require_same_site(request: Request) -> None:
    """A form must come from a console page: the browser says where it came from (Sec-Fetch-Site,
    Origin); this holds even before there is a session to derive a CSRF token from."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden(f"This form came from another site ({site}).", code=Code.CONSOLE_FORGED)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise Forbidden("This form came from another site.", code=Code.CONSOLE_FORGED)


def require_csrf(viewer: Viewer, given: str) -> None:
    if not sessions.same_token(given, viewer.csrf):
        raise Forbidden(
            "This form's CSRF token is missing or is not this session's.",
            code=Code.CONSOLE_FORGED,
            hint="Reload the page and send the form again.",
        )


def secure_cookies(request: Request) -> bool:
    """Mark cookies Secure when the browser reached the edge over HTTPS."""
    return request.headers.get("x-forwarded-proto", "http") == "https"
