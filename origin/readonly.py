"""How a read-only key's work runs, on every front, so that Postgres refuses its writes.

Three layers:
1. The session is the database's read-only role (`r_<id>`: SELECT on the owner's objects, no TEMP,
   no EXECUTE of large-object creators; the pool's `read_only=True`).
2. Every statement runs inside a READ ONLY transaction whose snapshot is taken at once, so Postgres
   refuses `SET TRANSACTION READ WRITE` and `set_config('transaction_read_only', 'off', …)`, and
   procedures and DO blocks cannot COMMIT (transaction control is refused inside a transaction block).
3. After each statement the caller wrote (raw SQL, a Prisma 7 plan statement that is not plainly a
   SELECT or WITH), Postgres's own report is checked: the session must still be in a transaction
   and that transaction still read-only. A caller that left it (`COMMIT`, `ROLLBACK`, `END`, or
   `COMMIT AND CHAIN` followed by `SET TRANSACTION READ WRITE`) has its session ended before
   anything else runs on it, and gets 403 BW2003.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from .errors import Forbidden

# Our own fixed text, so one simple-query round trip may carry both statements; the SELECT takes the
# transaction's snapshot.
_BEGIN = "BEGIN{isolation} READ ONLY; SELECT 1"
_READ_ONLY = "SELECT pg_catalog.current_setting('transaction_read_only')"


class LeftReadOnly(Forbidden):
    """A read-only caller's statement left its READ ONLY transaction; its session was ended."""

    def __init__(self) -> None:
        super().__init__(
            "This API key is read-only; a statement tried to leave its read-only transaction.",
            hint="Read-only keys run inside READ ONLY transactions; COMMIT, ROLLBACK and "
            "SET TRANSACTION are not theirs to run.",
        )


async def begin(conn: asyncpg.Connection, isolation: str | None = None) -> None:
    """BEGIN a READ ONLY transaction (at `isolation`, an SQL level name) and take its snapshot."""
    await conn.execute(_BEGIN.format(isolation=f" ISOLATION LEVEL {isolation}" if isolation else ""))


@contextlib.asynccontextmanager
async def transaction(conn: asyncpg.Connection, isolation: str | None = None) -> AsyncIterator[None]:
    """A READ ONLY transaction around a read-only caller's work; rolled back at the end (there is
    nothing to keep), and left alone if the session was ended meanwhile."""
    await begin(conn, isolation)
    try:
        yield
    finally:
        if not conn.is_closed():
            try:
                await conn.execute("ROLLBACK")
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                conn.terminate()


async def check(conn: asyncpg.Connection) -> None:
    """Raise LeftReadOnly (and end the session) unless `conn` is still inside a READ ONLY transaction."""
    if conn.is_closed():
        raise LeftReadOnly()
    if conn.is_in_transaction():
        try:
            if await conn.fetchval(_READ_ONLY) == "on":
                return
        except asyncpg.InFailedSQLTransactionError:
            return  # aborted: nothing runs in it until it is rolled back
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            pass
    conn.terminate()
    raise LeftReadOnly()
