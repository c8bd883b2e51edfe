"""The operator API the `breakwater` CLI talks to (`/admin/...`, Bearer admin token)."""

from __future__ import annotations

import hmac
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwcontract.codes import Code

from .. import jsoninput
from .. import limits as limits_
from ..control.ids import new_id
from ..control.placement import choose
from ..control.store import ApiKey, Database
from ..errors import BreakwaterError, HostUnavailable, NotFound, Unauthorized, database_moving
from ..state import OriginState, state_of

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
NAME_RULE = "1-63 letters, digits, '_' or '-', starting with a letter or digit"
DEFAULT_WORKSPACE = "default"


class NewDatabase(BaseModel):
    name: str = Field(strict=True, pattern=NAME_PATTERN, description=NAME_RULE)
    placement: Literal["shared", "dedicated"] = Field("shared", description="'shared' or 'dedicated'")
    workspace: str = Field(DEFAULT_WORKSPACE, strict=True, description="the name of a workspace")
    host: str | None = Field(
        None,
        strict=True,
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="a host's id (default: placement)",
    )


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


def _database_json(db: Database, workspace: str | None = None) -> dict[str, Any]:
    return {
        "id": db.id,
        "name": db.name,
        "workspace": workspace,
        "host": db.host_id,
        "instance": db.instance,
        "placement": db.placement,
        "moving": db.moving_since is not None,
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
    db = await state.store.database_by_name(name)
    if db is None:
        raise NotFound(f"There is no database named {name!r}.", hint="`breakwater db list` shows them.")
    return db


async def _workspace_names(state: OriginState) -> dict[str, str]:
    return {w.id: w.name for w in await state.store.list_workspaces()}


async def create_database(request: Request) -> JSONResponse:
    state = _authorize(request)
    wanted = await jsoninput.read(request, NewDatabase)
    name, placement = wanted.name, wanted.placement
    workspace = await state.store.workspace_by_name(wanted.workspace)
    if workspace is None:
        raise NotFound(
            f"There is no workspace named {wanted.workspace!r}.",
            hint="`breakwater workspace list` shows them.",
        )
    if await state.store.database_by_name(name) is not None:
        raise BreakwaterError(f"A database named {name!r} exists already.", code=Code.ALREADY_EXISTS)
    await state.metering.check_room(workspace)
    database_id = new_id("db")
    silent: dict[str, str] = {}  # hosts chosen whose agent did not answer: placement tries the next
    while True:
        host = choose(
            await state.host_store.list(),
            placement,
            await state.host_store.now(),
            state.placement,
            wanted=wanted.host,
            exclude=silent,
        )
        try:
            provisioned = await state.hosts.client_for(host).create_database(database_id, placement)
        except HostUnavailable:
            if wanted.host is not None:
                raise
            silent[host.id] = "its agent did not answer"
            continue
        break
    try:
        db = await state.store.insert_database(
            database_id,
            workspace.id,
            name,
            host.id,
            provisioned["instance"],
            provisioned["placement"],
            provisioned["dsn"],
            provisioned.get("readonly_dsn"),
        )
    except asyncpg.UniqueViolationError:  # made at the same moment by another request
        await state.hosts.client_for(host).drop_database(database_id)
        raise BreakwaterError(
            f"A database named {name!r} exists already.", code=Code.ALREADY_EXISTS
        ) from None
    await state.metering.database_added(workspace.id)
    key, token = await state.store.create_key(db, "read-write", "default")
    return JSONResponse(
        {
            "database": _database_json(db, workspace.name),
            "key": _key_json(key),
            "api_key": token,
            "url": connection_url(state.settings.public_url, token),
            "postgres_dsn": db.dsn,
        },
        status_code=201,
    )


async def list_databases(request: Request) -> JSONResponse:
    """Every live database (`?workspace=NAME`: of one workspace)."""
    state = _authorize(request)
    names = await _workspace_names(state)
    wanted = request.query_params.get("workspace")
    workspace_id: str | None = None
    if wanted:
        workspace_id = next((i for i, n in names.items() if n == wanted), None)
        if workspace_id is None:
            raise NotFound(
                f"There is no workspace named {wanted!r}.", hint="`breakwater workspace list` shows them."
            )
    found = await state.store.list_databases(workspace_id)
    return JSONResponse({"databases": [_database_json(d, names.get(d.workspace_id)) for d in found]})


async def show_database(request: Request) -> JSONResponse:
    """One database: where it lives, its instance's state, its Postgres DSN and its keys (the keys
    themselves are never stored, so the URL is shown with a placeholder)."""
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    instance: dict[str, Any] | None
    try:
        instance = await (await state.hosts.agent(db.host_id)).instance(db.instance)
    except BreakwaterError as exc:
        instance = {"state": "unknown", "error": exc.message}
    workspace = await state.store.workspace_by_id(db.workspace_id)
    return JSONResponse(
        {
            "database": _database_json(db, workspace.name if workspace else None),
            "url": connection_url(state.settings.public_url, "KEY"),
            "postgres_dsn": db.dsn,
            "instance": instance,
            "keys": [_key_json(k) for k in await state.store.list_keys(db.id)],
        }
    )


async def delete_database(request: Request) -> JSONResponse:
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    if db.moving_since is not None:
        raise database_moving(db.name)
    revoked = await state.store.mark_deleted(db.id)
    state.keygate.forget()
    await state.tenants.forget(db.id)
    await state.capture.disable(db.id)
    await state.edge.push_revocations(revoked, [db.id])
    await state.hosts.drop_database(db.id)
    return JSONResponse(
        {
            "deleted": _database_json(db, (await _workspace_names(state)).get(db.workspace_id)),
            "revoked_keys": revoked,
        }
    )


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


async def revoke(state: OriginState, key_id: str) -> tuple[ApiKey, bool]:
    """Revoke a key everywhere (control plane, this origin at once, the edge); returns it and whether
    this call revoked it (False: it was already)."""
    found = await state.store.revoke_key(key_id)
    if found is None:
        raise NotFound(
            f"There is no key {key_id!r}.",
            hint="`breakwater key list DATABASE` shows the ids of a database's keys.",
        )
    key, newly = found
    state.keygate.forget()
    # Pushed again when it was revoked before: the earlier push may not have reached the edge.
    await state.edge.push_revocations([key.id], [], {key.id: key.database_id})
    return key, newly


async def revoke_key(request: Request) -> JSONResponse:
    state = _authorize(request)
    key, newly = await revoke(state, request.path_params["key_id"])
    return JSONResponse({"key": _key_json(key), "already_revoked": not newly})


_ACTIONS = ("pause", "resume", "hibernate")


async def database_action(request: Request) -> JSONResponse:
    """Pause, resume or hibernate a database's instance (it wakes by itself on the next query)."""
    state = _authorize(request)
    db = await _database_named(state, request.path_params["name"])
    action = request.url.path.rsplit("/", 1)[1]
    workspace = (await _workspace_names(state)).get(db.workspace_id)
    return JSONResponse(
        {
            "database": _database_json(db, workspace),
            "instance": await state.hosts.database_action(db.id, action),
        }
    )


async def _limits_json(state: OriginState, db: Database) -> dict[str, Any]:
    overrides = await state.store.limit_overrides(db.id)
    plan_limits = await state.store.plan_limits(db.id)
    workspace = await state.store.workspace_by_id(db.workspace_id)
    book = state.tenants.limits
    return {
        "database": db.name,
        "limits": limits_.apply(limits_.apply(book.defaults, plan_limits), overrides).as_dict(),
        "overrides": {k: v for k, v in overrides.items() if v is not None},
        "plan": {"name": workspace.plan if workspace else None, "limits": plan_limits},
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
]
