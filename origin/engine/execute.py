"""Run a statement on a pooled connection and map database errors to Prisma's codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from ..errors import Forbidden, KnownRequestError


async def fetch(conn: asyncpg.Connection, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    try:
        rows: list[Sequence[Any]] = await conn.fetch(sql, *params)
    except asyncpg.ReadOnlySQLTransactionError:
        raise Forbidden(
            "This API key is read-only and cannot write.",
            hint="Create a read-write key with `breakwater key create NAME`.",
        ) from None
    except asyncpg.UniqueViolationError as exc:
        raise KnownRequestError(
            f"Unique constraint failed on the constraint: `{exc.constraint_name}`",
            code="P2002",
            meta={"target": exc.constraint_name},
        ) from None
    return rows
