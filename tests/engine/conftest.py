"""Engine fixtures: the rich test schema (tests/prisma6/schema.prisma) on a fresh real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from origin.engine import engine, psl
from origin.engine.request import parse
from origin.engine.schema import Schema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "prisma6"
RICH_PRISMA = (SCHEMA_DIR / "schema.prisma").read_text()
RICH_SQL = (SCHEMA_DIR / "schema.sql").read_text()

Run = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="session")
def rich_schema() -> Schema:
    return psl.load(RICH_PRISMA)


@pytest.fixture
async def rich_db(pg_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_database)
    await conn.execute(RICH_SQL)
    try:
        yield conn
    finally:
        await conn.close()


def query(
    model: str | None, action: str, arguments: dict[str, Any] | None = None, selection: Any = None
) -> Any:
    return parse(
        {
            "modelName": model,
            "action": action,
            "query": {"arguments": arguments or {}, "selection": selection or {"$scalars": True}},
        }
    )


@pytest.fixture
def run(rich_db: asyncpg.Connection, rich_schema: Schema) -> Run:
    """`await run(model, action, arguments, selection)` → the operation's result value."""

    async def go(
        model: str | None, action: str, arguments: dict[str, Any] | None = None, selection: Any = None
    ) -> Any:
        outcome = await engine.run(rich_schema, query(model, action, arguments, selection), rich_db)
        return outcome.value()

    return go
