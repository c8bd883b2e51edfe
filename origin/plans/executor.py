"""Runs a plan's statements on one asyncpg connection, always through the extended protocol: one
statement per Parse/Bind/Execute, never the simple-query path that would accept several statements
in one string.

asyncpg binds parameters in binary, so each value must become the Python type of the Postgres type the
server inferred for its placeholder. Those types are learned once per database and statement text
(`ParamTypes`) and the statement then runs through asyncpg's own per-connection statement cache.

For read-only keys the connection is the database's read-only role, inside a READ ONLY transaction
that already took its snapshot (so `SET TRANSACTION READ WRITE` is refused by Postgres), only reading
statements are accepted (nothing that could end the transaction or change the session), and the
transaction must still be open, and still read-only, after every statement; a connection that left
it is closed, not returned to the pool (origin/readonly.py).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bwcontract.codes import Code

from .. import rawcodec, readonly
from ..dberrors import map_database_error
from ..errors import Forbidden, KnownRequestError
from .binds import bind_value
from .errors import PlanError
from .template import Statement

_READING = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "SHOW"})
_PLAINLY_READING = frozenset({"SELECT", "WITH"})
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.DOTALL)


def leading_keyword(sql: str) -> str:
    """The statement's first keyword, past whitespace, comments and opening parentheses."""
    match = _LEADING.match(sql)
    return match[1].upper() if match else ""


class ParamTypes:
    """Postgres parameter types per (database, statement text), least recently used out first."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._types: OrderedDict[tuple[str, str], tuple[Any, ...]] = OrderedDict()

    def get(self, database_id: str, sql: str) -> tuple[Any, ...] | None:
        key = (database_id, sql)
        found = self._types.get(key)
        if found is not None:
            self._types.move_to_end(key)
        return found

    def put(self, database_id: str, sql: str, types: tuple[Any, ...]) -> None:
        self._types[(database_id, sql)] = types
        if len(self._types) > self._size:
            self._types.popitem(last=False)

    def forget(self, database_id: str, sql: str) -> None:
        self._types.pop((database_id, sql), None)


PARAM_TYPES = ParamTypes()


@dataclass
class QueryEvent:
    sql: str
    params: list[Any]
    duration_ms: float


@dataclass
class Database:
    """The connection a plan runs on, and what it may do there."""

    conn: asyncpg.Connection
    database_id: str
    read_only: bool
    in_transaction: bool
    raw: bool = False
    on_query: Callable[[QueryEvent], None] | None = None
    comment: str = ""  # appended to every statement (the client's sqlcommenter tags)
    param_types: ParamTypes = field(default=PARAM_TYPES)
    # (schema, table)s raw statements read and wrote, as Postgres locked them
    touched_read: set[tuple[str, str]] = field(default_factory=set)
    touched_written: set[tuple[str, str]] = field(default_factory=set)
    _depth: int = 0

    def _guard(self, sql: str) -> None:
        if not self.read_only:
            return
        keyword = leading_keyword(sql)
        if keyword not in _READING:
            raise Forbidden(
                f"This API key is read-only and cannot run `{keyword or sql[:20]}` statements.",
                hint="Create a read-write key with `breakwater key create NAME`.",
            )

    async def _still_read_only(self, sql: str) -> None:
        if not self.read_only:
            return
        if not self.conn.is_in_transaction():
            # The statement ended the read-only transaction; nothing may run on this session again.
            self.conn.terminate()
            raise readonly.LeftReadOnly()
        if leading_keyword(sql) not in _PLAINLY_READING:
            await readonly.check(self.conn)

    async def _bind(self, statement: Statement) -> list[Any]:
        types = self.param_types.get(self.database_id, statement.sql)
        if types is None:
            prepared = await self.conn.prepare(statement.sql)
            types = tuple(prepared.get_parameters())
            self.param_types.put(self.database_id, statement.sql, types)
        return self._convert(statement, types)

    @staticmethod
    def _convert(statement: Statement, types: Sequence[Any]) -> list[Any]:
        if len(types) != len(statement.values):
            raise PlanError(
                f"The statement has {len(types)} placeholders; the plan binds {len(statement.values)}."
            )
        return [
            bind_value(v, t, s)
            for v, t, s in zip(statement.values, types, statement.scalar_types, strict=True)
        ]

    async def _run(self, statement: Statement, kind: str) -> Any:
        """Run one statement: `rows` (records), `status` (command tag) or `raw` (a raw result)."""
        self._guard(statement.sql)
        sql = f"{statement.sql} {self.comment}" if self.comment else statement.sql
        started = time.perf_counter()
        try:
            if kind in ("raw", "raw-status"):
                params = [
                    rawcodec.Param(v, t, isinstance(v, list))
                    for v, t in zip(statement.values, statement.scalar_types, strict=True)
                ]
                done = await rawcodec.run(self.conn, sql, params, fetch=kind == "raw")
                self.touched_read |= done.read
                self.touched_written |= done.written
                result: Any = done.value
            elif kind == "status" and not statement.values:
                # The command tag of a statement without values needs the statement object.
                prepared = await self.conn.prepare(sql)
                await prepared.fetch()
                result = prepared.get_statusmsg()
            else:
                values = await self._bind(statement)
                if kind == "rows":
                    result = await self.conn.fetch(sql, *values)
                else:
                    result = await self.conn.execute(sql, *values)
        except PlanError as exc:
            if self.raw:
                # Prisma reports every failure of a raw query, a value that does not fit included, as P2010.
                raise KnownRequestError(
                    f"Raw query failed. Message: `{exc.message}`",
                    code=Code.RAW_QUERY_FAILED,
                    meta={"message": exc.message},
                ) from None
            raise
        except asyncpg.PostgresError as exc:
            if isinstance(exc, asyncpg.InvalidCachedStatementError | asyncpg.DataError):
                # The schema may have changed under the cached parameter types: learn them again next time.
                self.param_types.forget(self.database_id, statement.sql)
            await self._still_read_only(statement.sql)
            if not getattr(exc, "sqlstate", None):
                # asyncpg refused to encode a value before sending anything.
                raise PlanError(f"A value does not fit its parameter: {exc}") from None
            raise map_database_error(exc, raw=self.raw) from None
        await self._still_read_only(statement.sql)
        if self.on_query is not None:
            self.on_query(QueryEvent(sql, statement.values, (time.perf_counter() - started) * 1000))
        return result

    async def query(self, statements: Sequence[Statement]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for statement in statements:
            rows = await self._run(statement, "rows")
            out.extend(dict(row.items()) for row in rows)
        return out

    async def query_raw(self, statement: Statement) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(statement, "raw")
        return result

    async def execute_raw(self, statement: Statement) -> int:
        count: int = await self._run(statement, "raw-status")
        return count

    async def execute(self, statements: Sequence[Statement]) -> int:
        total = 0
        for statement in statements:
            total += affected_rows(await self._run(statement, "status"))
        return total

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A `transaction` node: its own transaction at the top level, part of the enclosing one inside."""
        if self.in_transaction or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth += 1
        try:
            async with self.conn.transaction():
                yield
        finally:
            self._depth -= 1


def affected_rows(status: str) -> int:
    """The row count of a command tag (`INSERT 0 3`, `UPDATE 2`, `DELETE 1`, `SELECT 4`)."""
    last = status.rsplit(" ", 1)[-1] if status else ""
    return int(last) if last.isdigit() else 0
