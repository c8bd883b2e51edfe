"""Run a statement on a pooled connection and map database errors to Prisma's codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from ..dberrors import map_database_error


async def fetch(conn: asyncpg.Connection, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    try:
        rows: list[Sequence[Any]] = await conn.fetch(sql, *params)
    except asyncpg.PostgresError as exc:
        raise map_database_error(exc) from None
    return rows
