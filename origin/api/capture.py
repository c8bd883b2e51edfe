"""The origin's capture routes.

`POST /v1/stream/prepare` (signed by the edge, before it hands a consumer's socket to the queue):
checks the stream's models and filter fields against the schema and turns capture on.
`PUT /admin/databases/{name}/tables/{table}/full-images` (operator): REPLICA IDENTITY FULL on or off,
so updates carry complete `before` images and deletes complete `deleted` records.
`GET /admin/capture`: what this origin process is reading.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwcontract import eventfilter

from .. import jsoninput
from ..auth import caller_of
from ..engine.quoting import table as quoted_table
from ..engine.schema import Model, Schema
from ..errors import BadRequest, NotFound, QueryValidationError
from ..state import OriginState, state_of
from .admin import _authorize, _database_named


class StreamPreparation(BaseModel):
    """What the edge sends before it hands a consumer's socket to the queue (from `GET /v1/stream`'s
    parameters, which it checked already): the stream's models (none: every model) and filter."""

    models: list[Annotated[str, Field(strict=True)]] | None = Field(None, description="a list of model names")
    where: Any = None  # a filter; checked against each model's fields below (P2009)


class FullImages(BaseModel):
    full: bool = Field(strict=True, description="true or false")


async def _schema(state: OriginState, database_id: str, refresh: bool = False) -> Schema:
    async with state.tenants.connection(database_id) as conn:
        return await state.schemas.get(database_id, conn, refresh=refresh)


def _models(schema: Schema, names: list[str]) -> list[Model] | None:
    found = [schema.models.get(n) for n in names]
    return None if any(m is None for m in found) else [m for m in found if m is not None]


async def prepare_stream(http: Request) -> JSONResponse:
    caller = await caller_of(http)
    state = state_of(http)
    wanted = await jsoninput.read(http, StreamPreparation)
    names, where = wanted.models or [], wanted.where
    schema = await _schema(state, caller.database_id)
    models = _models(schema, names)
    if models is None:
        schema = await _schema(state, caller.database_id, refresh=True)  # created since last read?
        models = _models(schema, names)
    if models is None:
        unknown = [n for n in names if n not in schema.models]
        raise QueryValidationError(
            f"Unknown model `{unknown[0]}` in the stream's models.",
            meta={"modelName": unknown[0], "available": sorted(schema.models)},
        )
    if where is not None:
        for model in models:
            try:
                eventfilter.validate(where, set(model.fields))
            except eventfilter.FilterError as exc:
                raise QueryValidationError(
                    f"Invalid stream filter for {model.name}: {exc}", meta={"argumentPath": exc.path}
                ) from None
    await state.capture.enable(caller.database_id)
    return JSONResponse({"models": [m.name for m in models] or sorted(schema.models)})


async def full_images(http: Request) -> JSONResponse:
    state = _authorize(http)
    db = await _database_named(state, http.path_params["name"])
    full = (await jsoninput.read(http, FullImages)).full
    schema = await _schema(state, db.id, refresh=True)
    model = next((m for m in schema.models.values() if m.table == http.path_params["table"]), None)
    if model is None:
        raise NotFound(f"There is no table {http.path_params['table']!r} in {db.name}.")
    async with state.tenants.connection(db.id) as conn:
        has_key = await conn.fetchval(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE i.indisprimary AND n.nspname = $1 AND c.relname = $2",
            model.schema,
            model.table,
        )
        if not full and not has_key:
            raise BadRequest("A table without a primary key keeps full images: its changes need them.")
        identity = "FULL" if full else "DEFAULT"
        await conn.execute(
            f"ALTER TABLE {quoted_table(model.schema, model.table)} REPLICA IDENTITY {identity}"
        )
    return JSONResponse({"database": db.name, "table": model.table, "fullImages": full})


async def capture_status(http: Request) -> JSONResponse:
    state = _authorize(http)
    readers: list[dict[str, Any]] = []
    for database_id in state.capture.leading():
        reader = state.capture.reader(database_id)
        if reader is not None:
            readers.append(reader.describe())
    return JSONResponse({"origin": state.settings.origin_id, "leading": readers})


routes = [
    Route("/v1/stream/prepare", prepare_stream, methods=["POST"]),
    Route("/admin/databases/{name}/tables/{table}/full-images", full_images, methods=["PUT"]),
    Route("/admin/capture", capture_status, methods=["GET"]),
]
