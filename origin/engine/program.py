"""A compiled operation: statements run in order on one connection, then one result.

Most operations compile to one statement. Nested writes need several (a parent's generated key
feeds its children), sometimes with a branch (upsert, connectOrCreate); those run in a transaction
(a savepoint inside an interactive one), so an operation is all or nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bwcontract.codes import Code

from ..dberrors import map_database_error
from ..errors import BreakwaterError, KnownRequestError
from .params import Bound, Env, Generated, Source, resolve


@dataclass(frozen=True)
class Expect:
    """Raised as a Prisma error when the statement returns no row."""

    code: str
    message: str
    meta: dict[str, Any] = field(default_factory=dict)

    def error(self) -> KnownRequestError:
        return KnownRequestError(self.message, code=self.code, meta=dict(self.meta))


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Source, ...]
    bind: str = ""  # keep the first row (a dict of columns, or None) under this name
    expect: Expect | None = None
    count: bool = False  # the affected-row count is the result (…Many without return)
    result: bool = False  # the first column of the first row is the operation's result
    refuse: Expect | None = None  # raised when the statement does return a row


@dataclass(frozen=True)
class Branch:
    """Run `then` when the row bound under `test` exists, else `otherwise`."""

    test: str
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...]


@dataclass(frozen=True)
class Rebind:
    target: str
    source: str


Step = Statement | Branch | Rebind


@dataclass(frozen=True)
class Program:
    steps: tuple[Step, ...]
    output: str  # one | many | count
    or_throw: Expect | None = None  # findUniqueOrThrow / findFirstOrThrow
    models_read: frozenset[str] = frozenset()
    models_written: frozenset[str] = frozenset()

    @property
    def single_statement(self) -> Statement | None:
        if len(self.steps) == 1 and isinstance(self.steps[0], Statement):
            return self.steps[0]
        return None

    @property
    def writes(self) -> bool:
        return bool(self.models_written)


def check_leaves(steps: tuple[Step, ...], env: Env) -> None:
    """Convert every request value before any SQL runs, so an invalid value sends nothing."""
    for step in steps:
        if isinstance(step, Statement):
            for source in step.params:
                if not isinstance(source, Bound | Generated):
                    source.get(env)
        elif isinstance(step, Branch):
            check_leaves(step.then, env)
            check_leaves(step.otherwise, env)


async def run(conn: asyncpg.Connection, program: Program, env: Env) -> Any:
    """The operation's result: JSON text (one / many), None, or an affected-row count."""
    single = program.single_statement
    if single is not None:
        params = resolve(single.params, env)
        return await _statement(conn, single, params, env)
    check_leaves(program.steps, env)
    async with atomic(conn):
        return await _steps(conn, program.steps, env)


@contextlib.asynccontextmanager
async def atomic(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """All or nothing: a transaction, or a savepoint inside one already open (asyncpg's own
    transaction() refuses to nest in a transaction begun with a plain BEGIN, as interactive ones are)."""
    if not conn.is_in_transaction():
        async with conn.transaction():
            yield
        return
    await conn.execute("SAVEPOINT bw_operation")
    try:
        yield
    except BaseException:
        await conn.execute("ROLLBACK TO SAVEPOINT bw_operation")
        raise
    await conn.execute("RELEASE SAVEPOINT bw_operation")


async def _steps(conn: asyncpg.Connection, steps: tuple[Step, ...], env: Env) -> Any:
    result: Any = None
    for step in steps:
        if isinstance(step, Statement):
            outcome = await _statement(conn, step, resolve(step.params, env), env)
            if step.result:
                result = outcome
        elif isinstance(step, Branch):
            chosen = step.then if env.bound.get(step.test) is not None else step.otherwise
            outcome = await _steps(conn, chosen, env)
            if outcome is not None:
                result = outcome
        else:
            env.bound[step.target] = env.bound.get(step.source)
    return result


_INT_RANGE = re.compile(r"argument \$(\d+): (.*) \(value out of int(16|32|64) range\)")
_INT_NAMES = {"16": "smallint", "32": "integer", "64": "bigint"}


def out_of_range(exc: Exception, params: list[Any]) -> BreakwaterError:
    match = _INT_RANGE.search(str(exc))
    assert match is not None
    value: Any = match[2]
    bits = int(match[3])
    index = int(match[1]) - 1
    if 0 <= index < len(params) and isinstance(params[index], list | tuple):
        # A list (`in`, `hasSome`, …): Postgres parses its items in order and names the first that
        # does not fit, as Prisma's driver has it (asyncpg shows the whole list).
        limit = 2 ** (bits - 1)
        value = next((v for v in params[index] if isinstance(v, int) and not -limit <= v < limit), value)
    message = f'value "{value}" is out of range for type {_INT_NAMES[match[3]]}'
    return KnownRequestError(
        f"Value out of range for the type: {message}", code=Code.VALUE_OUT_OF_RANGE, meta={"message": message}
    )


async def _statement(conn: asyncpg.Connection, step: Statement, params: list[Any], env: Env) -> Any:
    try:
        if step.count:
            status: str = await conn.execute(step.sql, *params)
            return int(status.rsplit(" ", 1)[-1])
        if step.refuse is not None:
            if await conn.fetchrow(step.sql, *params) is not None:
                raise step.refuse.error()
            return None
        if step.bind:
            row = await conn.fetchrow(step.sql, *params)
            env.bound[step.bind] = dict(row) if row is not None else None
            if row is None and step.expect is not None:
                raise step.expect.error()
            return row[0] if row is not None and step.result else None
        value = await conn.fetchval(step.sql, *params)
    except asyncpg.PostgresError as exc:
        if type(exc) is asyncpg.DataError and _INT_RANGE.search(str(exc)):
            # asyncpg refused to send a value its parameter's type cannot hold (an int for a
            # smallint column): what Postgres would have said, 22003.
            raise out_of_range(exc, params) from None
        raise map_database_error(exc) from None
    if value is None and step.expect is not None:
        raise step.expect.error()
    return value
