"""Running one raw statement for a Prisma front: its parameters bound (params.py), its result read
(results.py) or its affected-row count, and the tables it read and wrote (from the locks it took)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from .params import Param, bind, failed
from .results import UnsupportedColumn, columns_of, result

# The relation locks this backend's transaction holds: every table a statement read or wrote,
# through views, triggers and functions included. Catalog names are qualified (tenants own `public`).
TOUCHED_SQL = """
SELECT n.nspname, c.relname, l.mode
FROM pg_catalog.pg_locks AS l
JOIN pg_catalog.pg_class AS c ON c.oid = l.relation
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.pid = pg_catalog.pg_backend_pid()
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
_WRITE_LOCKS = frozenset(
    {"RowExclusiveLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
)


async def touched(conn: asyncpg.Connection) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """The (schema, table)s the current transaction has read and written so far."""
    read: set[tuple[str, str]] = set()
    written: set[tuple[str, str]] = set()
    for schema, name, mode in await conn.fetch(TOUCHED_SQL):
        (written if mode in _WRITE_LOCKS else read).add((schema, name))
    return frozenset(read - written), frozenset(written)


# --- running one statement ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    value: Any  # the result ({columns, types, rows}) or the affected-row count
    read: frozenset[tuple[str, str]]
    written: frozenset[tuple[str, str]]
    # A column Prisma cannot read: the statement ran (and its transaction commits), then it fails.
    unreadable: UnsupportedColumn | None = None


@contextlib.asynccontextmanager
async def _in_transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction():
        yield


async def _run(
    conn: asyncpg.Connection, sql: str, params: Sequence[Param], fetch: bool, *, locks: bool
) -> Outcome:
    statement = await conn.prepare(sql)
    types = statement.get_parameters()
    if len(types) != len(params):
        raise failed(
            f"bind message supplies {len(params)} parameters, but prepared statement requires {len(types)}",
            "08P01",
        )
    names = [a.name for a in statement.get_attributes()]
    unreadable = None
    try:
        cols = columns_of(names, [a.type for a in statement.get_attributes()]) if fetch else []
    except UnsupportedColumn as exc:
        # Prisma's driver runs the statement and fails on reading its result: so does this.
        unreadable, cols = exc, []
    rows = await statement.fetch(*await bind(conn, params, types))
    read, written = await touched(conn) if locks else (frozenset(), frozenset())
    if unreadable is not None:
        return Outcome(None, read, written, unreadable)
    if fetch:
        return Outcome(result(names, cols, rows), read, written)
    tail = (statement.get_statusmsg() or "").rsplit(" ", 1)[-1]
    return Outcome(int(tail) if tail.isdigit() else 0, read, written)


async def run(conn: asyncpg.Connection, sql: str, params: Sequence[Param], *, fetch: bool) -> Outcome:
    """Run one raw statement: its result (`fetch`) or affected-row count, and the tables it touched.

    Outside a transaction it runs in one of its own, so its locks can be read before they are let go;
    statements Postgres refuses to run in a transaction (VACUUM, CREATE INDEX CONCURRENTLY, …, none
    of which changes a row) then run on their own, touching nothing worth reporting.
    """
    outside = not conn.is_in_transaction()
    try:
        async with _in_transaction(conn):
            done = await _run(conn, sql, params, fetch, locks=True)
    except asyncpg.ActiveSQLTransactionError:
        if not outside:
            raise
        done = await _run(conn, sql, params, fetch, locks=False)
    if done.unreadable is not None:
        raise failed(str(done.unreadable))
    return done
