"""Run one JSON-protocol query end to end on a connection."""

from __future__ import annotations

from typing import Any

import asyncpg

from ..errors import KnownRequestError
from . import execute, plan, request, shape, sql
from .schema import Schema

WRITE_ACTIONS = frozenset(
    {
        "createOne",
        "createMany",
        "createManyAndReturn",
        "updateOne",
        "updateMany",
        "updateManyAndReturn",
        "upsertOne",
        "deleteOne",
        "deleteMany",
        "executeRaw",
        "runCommandRaw",
    }
)


def is_write(action: str) -> bool:
    return action in WRITE_ACTIONS


async def run(schema: Schema, query: request.JsonQuery, conn: asyncpg.Connection) -> Any:
    read = plan.plan_read(schema, query)
    text, params = sql.render_read(read)
    rows = await execute.fetch(conn, text, params)
    result = shape.shape_read(read, rows)
    if result is None and read.or_throw:
        raise KnownRequestError(
            "An operation failed because it depends on one or more records that were required but not found. "
            "No record was found for a query.",
            code="P2025",
            meta={"modelName": read.model.name, "cause": "No record was found for a query."},
        )
    return result
