"""The console's routes: pages (GET, no side effects but a session's last-seen time) and forms (POST,
CSRF-checked, answered with a redirect back to the page, or with a page that shows a secret once).

Every request passes `gate.through_edge` first (signed by the edge as a console request); pages
and forms then need a live session (`gate.viewer_of`), and what a viewer may see and do is
`viewer.py`'s table. Errors are pages with the code on them (and in `Prisma-Error-Code`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bwcontract import keys
from bwcontract.codes import Code

from .. import consolesessions as sessions
from ..api.admin import connection_url, revoke
from ..control.store import Database
from ..errors import BreakwaterError, NotFound
from ..state import OriginState
from . import figures, forms, gate, insights, pages
from .viewer import Action, Viewer

log = logging.getLogger("breakwater.console")

Handler = Callable[[Request, OriginState], Awaitable[Response]]

# What a form did, said on the page it returns to (`?done=`): fixed texts, never the caller's words.
DONE = {
    "revoked": "The key is revoked: requests with it now get P6002, and its console sessions ended.",
    "wake": "The database is awake.",
    "pause": "The database is paused: its processes are frozen until the next query wakes it.",
    "hibernate": "The database is hibernated: it starts again on the next query.",
    "limits": "The limits are saved; every origin applies them within seconds.",
}


def console(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Check the edge's signature, and answer every error as a page."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            state = await gate.through_edge(request)
            return await handler(request, state)
        except gate.SignInNeeded as exc:
            if request.method == "GET":
                return RedirectResponse("/console/login", status_code=303)
            return _error(exc)
        except BreakwaterError as exc:
            if exc.status >= 500:
                log.warning(
                    "console request failed", extra={"fields": {"code": exc.code, "error": exc.message}}
                )
            return _error(exc)

    return wrapped


def _error(exc: BreakwaterError) -> Response:
    return pages.render(
        "error.html",
        status=exc.status,
        headers={"Prisma-Error-Code": exc.code.value},
        error=exc,
        viewer=None,
    )


def _back(db: Database, done: str) -> Response:
    return RedirectResponse(f"/console/databases/{db.name}?{urlencode({'done': done})}", status_code=303)


async def _database(state: OriginState, viewer: Viewer, name: str) -> Database:
    db = await state.store.database_by_name(name)
    if db is None:
        raise NotFound(f"There is no database named {name!r}.")
    viewer.require_sight(db.id, name)
    return db


async def _form_of(
    request: Request, state: OriginState, model: type[forms.Model]
) -> tuple[Viewer, forms.Model]:
    """A form's viewer and fields: from this site, with this session's CSRF token."""
    gate.require_same_site(request)
    viewer = await gate.viewer_of(request, state)
    form = await forms.read(request, model)
    gate.require_csrf(viewer, str(getattr(form, "csrf", "")))
    return viewer, form


# --- signing in and out ----------------------------------------------------------------------------


@console
async def login_page(request: Request, state: OriginState) -> Response:
    token = request.cookies.get(sessions.LOGIN_COOKIE) or sessions.new_login_token()
    cookie = sessions.cookie_header(
        sessions.LOGIN_COOKIE, token, sessions.LOGIN_COOKIE_SECONDS, gate.secure_cookies(request)
    )
    return pages.render("login.html", headers={"set-cookie": cookie}, login_csrf=token, viewer=None)


@console
async def login(request: Request, state: OriginState) -> Response:
    gate.require_same_site(request)
    form = await forms.read(request, forms.SignIn)
    login_token = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not sessions.same_token(form.login_csrf, login_token):
        raise BreakwaterError(
            "The sign-in form's CSRF token is missing or wrong.",
            code=Code.CONSOLE_FORGED,
            hint="Reload the sign-in page and try again.",
        )
    try:
        token, target = await _sign_in(state, form.secret.strip())
    except gate.SignInNeeded as exc:
        return pages.render(
            "login.html",
            status=exc.status,
            headers={"Prisma-Error-Code": exc.code.value},
            login_csrf=login_token,
            viewer=None,
            error=exc.message,
            code=exc.code.value,
        )
    lifetime = int(state.console_sessions.lifetime.total_seconds())
    cookie = sessions.cookie_header(sessions.COOKIE, token, lifetime, gate.secure_cookies(request))
    return RedirectResponse(
        target, status_code=303, headers={"set-cookie": cookie, "cache-control": "no-store"}
    )


async def _sign_in(state: OriginState, secret: str) -> tuple[str, str]:
    """A new session for the admin token or an API key: its token and the page it opens on."""
    if sessions.same_token(secret, state.settings.admin_token):
        return await state.console_sessions.open_operator(secret), "/console"
    try:
        claims = keys.verify(secret, [state.settings.key_secret])
    except keys.InvalidKey:
        raise gate.SignInNeeded(
            "That is neither the admin token nor an API key of this deployment."
        ) from None
    db = await state.store.database_by_id(claims.database_id)
    if db is None or not await state.keygate.is_active(claims.key_id, claims.database_id):
        raise gate.SignInNeeded("That API key has been revoked, or its database deleted.")
    return await state.console_sessions.open_key(claims), f"/console/databases/{db.name}"


@console
async def logout(request: Request, state: OriginState) -> Response:
    await _form_of(request, state, forms.Form)
    await state.console_sessions.end(request.cookies.get(sessions.COOKIE, ""))
    cookie = sessions.cookie_header(sessions.COOKIE, "", 0, gate.secure_cookies(request))
    return RedirectResponse("/console/login", status_code=303, headers={"set-cookie": cookie})


# --- pages -------------------------------------------------------------------------------------------


@console
async def overview_page(request: Request, state: OriginState) -> Response:
    viewer = await gate.viewer_of(request, state)
    if not viewer.operator:
        db = await state.store.database_by_id(viewer.database_id or "")
        if db is None:
            raise gate.SignInNeeded("The database of the key you signed in with was deleted.")
        return RedirectResponse(f"/console/databases/{db.name}", status_code=303)
    return pages.render("overview.html", viewer=viewer, page=await figures.overview(state))


@console
async def hosts_page(request: Request, state: OriginState) -> Response:
    viewer = await gate.viewer_of(request, state)
    viewer.require(Action.OPERATE)
    found = await figures.hosts(state)
    databases = {d.id: d.name for d in await state.store.list_databases()}
    return pages.render(
        "hosts.html", viewer=viewer, hosts=found, pool=state.tenants.figures(), names=databases
    )


@console
async def database_page(request: Request, state: OriginState) -> Response:
    viewer = await gate.viewer_of(request, state)
    db = await _database(state, viewer, request.path_params["name"])
    return pages.render(
        "database.html",
        viewer=viewer,
        page=await figures.database(state, db),
        done=DONE.get(request.query_params.get("done", "")),
        url=connection_url(state.settings.public_url, "YOUR_API_KEY"),
    )


@console
async def insights_page(request: Request, state: OriginState) -> Response:
    viewer = await gate.viewer_of(request, state)
    db = await _database(state, viewer, request.path_params["name"])
    window = insights.window_of(request.query_params.get("window"))
    return pages.render(
        "insights.html", viewer=viewer, db=db, window=window, found=await insights.of(state, db, window)
    )


# --- forms -------------------------------------------------------------------------------------------


@console
async def create_key(request: Request, state: OriginState) -> Response:
    viewer, form = await _form_of(request, state, forms.NewKey)
    db = await _database(state, viewer, request.path_params["name"])
    viewer.require(Action.KEYS)
    key, token = await state.store.create_key(db, form.scope, form.label)
    return pages.render(
        "secret.html",
        viewer=viewer,
        db=db,
        kind="key",
        key=key,
        secret=token,
        url=connection_url(state.settings.public_url, token),
    )


@console
async def revoke_key(request: Request, state: OriginState) -> Response:
    viewer, _ = await _form_of(request, state, forms.Form)
    db = await _database(state, viewer, request.path_params["name"])
    viewer.require(Action.KEYS)
    key_id = request.path_params["key_id"]
    if key_id not in {k.id for k in await state.store.list_keys(db.id)}:
        raise NotFound(f"The database {db.name!r} has no key {key_id!r}.")
    await revoke(state, key_id)
    await state.console_sessions.end_key(key_id)
    return _back(db, "revoked")


@console
async def show_dsn(request: Request, state: OriginState) -> Response:
    viewer, _ = await _form_of(request, state, forms.Form)
    db = await _database(state, viewer, request.path_params["name"])
    viewer.require(Action.DSN)
    return pages.render("secret.html", viewer=viewer, db=db, kind="dsn", key=None, secret=db.dsn, url="")


def _instance_action(action: Action, agent_action: str) -> Route:
    @console
    async def act(request: Request, state: OriginState) -> Response:
        viewer, _ = await _form_of(request, state, forms.Form)
        db = await _database(state, viewer, request.path_params["name"])
        viewer.require(action)
        await state.hosts.database_action(db.id, agent_action)
        return _back(db, action.value)

    return Route(f"/console/databases/{{name}}/{action.value}", act, methods=["POST"])


@console
async def set_limits(request: Request, state: OriginState) -> Response:
    viewer, form = await _form_of(request, state, forms.LimitsForm)
    db = await _database(state, viewer, request.path_params["name"])
    viewer.require(Action.LIMITS)
    await state.store.set_limit_overrides(db.id, forms.limits_changes(form))
    state.tenants.limits.forget(db.id)
    return _back(db, "limits")


# --- files -------------------------------------------------------------------------------------------


@console
async def static_file(request: Request, state: OriginState) -> Response:
    name = request.path_params["file"]
    if name not in pages.STATIC:
        raise NotFound(f"There is no console file {name!r}.")
    return pages.static(name)


@console
async def slash(request: Request, state: OriginState) -> Response:
    return RedirectResponse("/console", status_code=308)


routes = [
    Route("/console", overview_page, methods=["GET"]),
    Route("/console/", slash, methods=["GET"]),
    Route("/console/login", login_page, methods=["GET"]),
    Route("/console/login", login, methods=["POST"]),
    Route("/console/logout", logout, methods=["POST"]),
    Route("/console/hosts", hosts_page, methods=["GET"]),
    Route("/console/databases/{name}", database_page, methods=["GET"]),
    Route("/console/databases/{name}/insights", insights_page, methods=["GET"]),
    Route("/console/databases/{name}/keys", create_key, methods=["POST"]),
    Route("/console/databases/{name}/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    Route("/console/databases/{name}/dsn", show_dsn, methods=["POST"]),
    Route("/console/databases/{name}/limits", set_limits, methods=["POST"]),
    _instance_action(Action.WAKE, "resume"),
    _instance_action(Action.PAUSE, "pause"),
    _instance_action(Action.HIBERNATE, "hibernate"),
    Route("/console/static/{file}", static_file, methods=["GET"]),
]
