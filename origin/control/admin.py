"""The operator API the `breakwater` CLI talks to (`/admin/...`, Bearer admin token)."""

from __future__ import annotations

import hmac
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwcontract.codes import Code

from .. import jsoninput
from .. import limits as limits_
from ..errors import BreakwaterError, NotFound, Unauthorized, UpstreamError
from ..state import OriginState, state_of
from .ids import new_id
from .store import ApiKey, Database


class NewDatabase(BaseModel):
    name: str = Field(
        strict=True,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$",
        description="1-63 letters, digits, '_' or '-', starting with a letter or digit",
    )
    placement: Literal["shared", "dedicated"] = Field("shared", description="'shared' or 'dedicated'")


class NewKey(BaseModel):
    database: str = Field("", strict=True, description="the name of a database")
    scope: Literal["read", "read-write", "admin"] = Field(  # bwcontract.keys.SCOPES
        "read-write", description="one of read, read-write, admin"
    )
    label: str = Field("", strict=True, description="text")


def connection_url(public_url: str, api_key: str) -> str:
    """`prisma+postgres://HOST:PORT/?api_key=KEY`: what Prisma clients and ours take."""
    return f"prisma+postgres://{urlsplit(public_url).netloc}/?api_key={api_key}"


def _authorize(request: Request) -> OriginState:
    state = state_of(request)
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), state.settings.admin_token.encode()):
        raise Unauthorized(
            "The admin token is missing or wrong.",
            code=Code.TOKEN_INVALID,
            hint="The CLI reads it from .breakwater/dev.json, or set BREAKWATER_ADMIN_TOKEN.",
        )
    return state


def _database_json(db: Database) -> dict[str, Any]:
    return {
        "id": db.id,
        "name": db.name,
        "host": db.host_id,
        "instance": db.instance,
        "placement": db.placement,
        "created_at": db.created_at.isoformat(),
    }


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "database_id": key.database_id,
        "scope": key.scope,
        "label": key.label,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


async def _database_named(state: OriginState, name: str) -> Database:
    db = await state.store.database_by_name(state.workspace_id, name)
    if db is None:
        raise NotFound(f"There is no database named {name!r}.", hint="`breakwater db list` shows them.")
    return db


async def create_database(request: Request) -> JSONResponse:
    state = _authorize(request)
    wanted = await jsoninput.read(request, NewDatabase)
    name, placement = wanted.name, wanted.placement
    if await state.store.database_by_name(state.workspace_id, name) is not None:
        raise BreakwaterError(f"A database named {name!r} exists already.", code=Code.ALREADY_EXISTS)
    database_id = new_id("db")
    provisioned = await state.hosts.create_database(database_id, placement)
    db = await state.store.insert_database(
        database_id,
        state.workspace_id,
        name,
        provisioned["host"],
        provisioned["instance"],
        provisioned["placement"],
        provisioned["dsn"],
        provisioned.get("readonly_dsn"),
    )
    key, token = await state.store.create_key(db, "read-write", "default")
    return JSONResponse(
        {
            "database": _database_json(db),
            "key": _key_json(key),
            "api_key": token,
            "url": connection_url(state.settings.public_url, token),
            "postgres_dsn": db.dsn,
        },
        status_code=201,
    )


async def list_databases(request: Request) -> JSONResponse:
    state = _authorize(request)
    return JSONResponse(
        {"databases": [_database_json(d) for d in await state.store.list_databases(state.workspace_id)]}
    )


async def show_database(request: Request) -> JSONResponse:
    """One database: where it lives, its instance's state, its Postgres DSN and its keys (the keys
    themselves are never stored, so the URL is shown with a placeholder)."""
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    instance: dict[str, Any] | None
    try:
        instance = await state.hosts.instance(db.instance)
    except UpstreamError as exc:
        instance = {"state": "unknown", "error": exc.message}
    return JSONResponse(
        {
            "database": _database_json(db),
            "url": connection_url(state.settings.public_url, "KEY"),
            "postgres_dsn": db.dsn,
            "instance": instance,
            "keys": [_key_json(k) for k in await state.store.list_keys(db.id)],
        }
    )


async def delete_database(request: Request) -> JSONResponse:
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    revoked = await state.store.mark_deleted(db.id)
    state.keygate.forget()
    await state.tenants.forget(db.id)
    await state.capture.disable(db.id)
    await state.edge.push_revocations(revoked, [db.id])
    await state.hosts.drop_database(db.id)
    return JSONResponse({"deleted": _database_json(db), "revoked_keys": revoked})


async def create_key(request: Request) -> JSONResponse:
    state = _authorize(request)
    wanted = await jsoninput.read(request, NewKey)
    db = await _database_named(state, wanted.database)
    key, token = await state.store.create_key(db, wanted.scope, wanted.label)
    return JSONResponse(
        {"key": _key_json(key), "api_key": token, "url": connection_url(state.settings.public_url, token)},
        status_code=201,
    )


async def list_keys(request: Request) -> JSONResponse:
    state = _authorize(request)
    db = await _database_named(state, request.query_params.get("database", ""))
    return JSONResponse({"keys": [_key_json(k) for k in await state.store.list_keys(db.id)]})


async def revoke_key(request: Request) -> JSONResponse:
    state = _authorize(request)
    found = await state.store.revoke_key(request.path_params["key_id"])
    if found is None:
        raise NotFound(
            f"There is no key {request.path_params['key_id']!r}.",
            hint="`breakwater key list DATABASE` shows the ids of a database's keys.",
        )
    key, newly = found
    state.keygate.forget()
    # Pushed again when it was revoked before: the earlier push may not have reached the edge.
    await state.edge.push_revocations([key.id], [], {key.id: key.database_id})
    return JSONResponse({"key": _key_json(key), "already_revoked": not newly})


_ACTIONS = ("pause", "resume", "hibernate")


async def database_action(request: Request) -> JSONResponse:
    """Pause, resume or hibernate a database's instance (it wakes by itself on the next query)."""
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    action = request.url.path.rsplit("/", 1)[1]
    return JSONResponse(
        {"database": _database_json(db), "instance": await state.hosts.database_action(db.id, action)}
    )


async def _limits_json(state: OriginState, db: Database) -> dict[str, Any]:
    overrides = await state.store.limit_overrides(db.id)
    book = state.tenants.limits
    return {
        "database": db.name,
        "limits": limits_.apply(book.defaults, overrides).as_dict(),
        "overrides": {k: v for k, v in overrides.items() if v is not None},
        "defaults": book.defaults.as_dict(),
    }


async def get_limits(request: Request) -> JSONResponse:
    """A database's effective limits, its overrides and the defaults."""
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    return JSONResponse(await _limits_json(state, db))


async def put_limits(request: Request) -> JSONResponse:
    """Override some limits (`{"query_timeout_ms": 5000}`) or go back to the default (`null`)."""
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    changes = (await jsoninput.read(request, limits_.Overrides)).model_dump(exclude_unset=True)
    await state.store.set_limit_overrides(db.id, changes)
    state.tenants.limits.forget(db.id)  # this origin at once; the others within their cache's ttl
    return JSONResponse(await _limits_json(state, db))


async def pool_figures(request: Request) -> JSONResponse:
    """This origin's pools: per database in use, idle, waiting and wait times; per host the budget."""
    return JSONResponse(_authorize(request).tenants.figures())


async def host_figures(request: Request) -> JSONResponse:
    """The host agent's instances with state and resource figures."""
    return JSONResponse(await _authorize(request).hosts.instances())


routes = [
    Route("/admin/databases", create_database, methods=["POST"]),
    Route("/admin/databases", list_databases, methods=["GET"]),
    Route("/admin/databases/{name}", show_database, methods=["GET"]),
    Route("/admin/databases/{name}", delete_database, methods=["DELETE"]),
    Route("/admin/keys", create_key, methods=["POST"]),
    Route("/admin/keys", list_keys, methods=["GET"]),
    Route("/admin/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    *[Route(f"/admin/databases/{{name}}/{action}", database_action, methods=["POST"]) for action in _ACTIONS],
    Route("/admin/databases/{name}/limits", get_limits, methods=["GET"]),
    Route("/admin/databases/{name}/limits", put_limits, methods=["PUT"]),
    Route("/admin/pool", pool_figures, methods=["GET"]),
    Route("/admin/hosts", host_figures, methods=["GET"]),
]
