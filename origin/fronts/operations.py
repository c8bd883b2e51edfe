"""Running JSON-protocol operations for a caller, shared by the Prisma 6 and `/v1` fronts.

Where the work runs: on a pooled connection, inside the caller's interactive transaction, or in one
transaction for a transactional batch. A read-only key never writes: write actions are refused up
front, and its work runs as the database's read-only role in READ ONLY transactions, so Postgres
refuses anything that slips through (a raw query that writes); see origin/readonly.py.

Every operation is noted on the request's `Served` record once it is read and the workspace's plan
limit lets it run (origin/observe.py: what metering and insights see), and timed as it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from bwcontract.codes import Code
from bwcontract.wire import MODELS_READ, MODELS_WRITTEN, SHAPE

from .. import readonly
from ..caller import Caller
from ..engine import batch as batches
from ..engine import engine
from ..engine.outcome import Outcome
from ..engine.program import check_leaves
from ..engine.request import Batch, JsonQuery
from ..engine.schema import Schema
from ..errors import BreakwaterError, QueryValidationError
from ..observe import Operation, Served
from ..plans.executor import QueryEvent
from ..state import OriginState
from ..transactions import ISOLATION_LEVELS

SchemaFor = Callable[[asyncpg.Connection, bool], Awaitable[Schema]]
OnQuery = Callable[[QueryEvent], None]

_ASYNCPG_ISOLATION = {
    "READ UNCOMMITTED": "read_uncommitted",
    "READ COMMITTED": "read_committed",
    "REPEATABLE READ": "repeatable_read",
    "SERIALIZABLE": "serializable",
}


@dataclass
class Models:
    read: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)
    shape: str | None = None  # a single operation's: the cache keeps it with the entry

    def add(self, outcome: Outcome) -> None:
        # Tables, not model names: the cache's tags must match what capture and Prisma 7 report.
        self.read.update(outcome.tables_read)
        self.written.update(outcome.tables_written)

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.read:
            headers[MODELS_READ] = ",".join(sorted(self.read))
        if self.written:
            headers[MODELS_WRITTEN] = ",".join(sorted(self.written))
        if self.shape:
            headers[SHAPE] = self.shape
        return headers


@contextlib.asynccontextmanager
async def queries_logged(conn: asyncpg.Connection, on_query: OnQuery | None) -> AsyncIterator[None]:
    """Report every statement `conn` runs meanwhile (the client's `log: ['query']`)."""
    if on_query is None:
        yield
        return

    def logged(record: asyncpg.connection.LoggedQuery) -> None:
        on_query(QueryEvent(record.query, list(record.args), record.elapsed * 1000))

    conn.add_query_logger(logged)
    try:
        yield
    finally:
        # asyncpg hands each record to its loggers with `call_soon`: one turn of the loop delivers
        # the last statement's before the answer is made (nothing else waits a turn after it now
        # that the connection's reset runs after the answer).
        await asyncio.sleep(0)
        conn.remove_query_logger(logged)


def check_writes(caller: Caller, queries: list[JsonQuery]) -> None:
    for query in queries:
        if engine.is_write(query.action):
            caller.require_write(f"run {query.action}")


_RAW = frozenset({"queryRaw", "executeRaw"})


async def _run(schema_for: SchemaFor, query: JsonQuery, conn: asyncpg.Connection, read_only: bool) -> Outcome:
    outcome = await _run_query(schema_for, query, conn)
    if read_only and query.action in _RAW:
        # The caller's own SQL: it must not have left the READ ONLY transaction.
        await readonly.check(conn)
    return outcome


async def _run_query(schema_for: SchemaFor, query: JsonQuery, conn: asyncpg.Connection) -> Outcome:
    schema = await schema_for(conn, False)
    try:
        return await engine.run(schema, query, conn)
    except QueryValidationError:
        if query.model is None or query.model in schema.models:
            raise
    # The model may have been created since the schema was read: look again, once.
    fresh = await schema_for(conn, True)
    if fresh is schema:
        raise QueryValidationError(f"Unknown model `{query.model}`.", meta={"modelName": query.model})
    return await engine.run(fresh, query, conn)


async def run_one(
    state: OriginState,
    caller: Caller,
    schema_for: SchemaFor,
    query: JsonQuery,
    tx_id: str | None = None,
    on_query: OnQuery | None = None,
    record: Served | None = None,
    protocol: str = "v1",
) -> Outcome:
    check_writes(caller, [query])
    read_only = not caller.can_write()
    await state.metering.gate.admit(caller)
    noted = (record or Served(0)).start(caller, protocol, query.model, query.action, tx_id)

    async def in_connection(conn: asyncpg.Connection) -> Outcome:
        async with queries_logged(conn, on_query):
            if not read_only or tx_id is not None:
                return await _run(schema_for, query, conn, read_only)
            async with readonly.transaction(conn):
                return await _run(schema_for, query, conn, read_only)

    try:
        with noted.running():
            if tx_id is not None:
                outcome = await state.transactions.run(caller, tx_id, in_connection)
            else:
                async with state.tenants.serving(caller.database_id, read_only=read_only) as conn:
                    outcome = await in_connection(conn)
    except BaseException:
        _shaped([(noted, query)])  # a failure (a timeout) is counted under its query's shape too
        raise
    _noted(noted, outcome)
    state.insights.notes.note(caller.database_id, query, outcome)
    return outcome


def _noted(operation: Operation, outcome: Outcome) -> None:
    operation.shape = outcome.shape
    operation.rows = outcome.rows


def _shaped(operations: list[tuple[Operation, JsonQuery]]) -> None:
    """Give operations that failed before their outcome named it the shape of their query."""
    for operation, query in operations:
        if operation.shape is None:
            operation.shape = engine.shape_of(query)


async def _merged(schema_for: SchemaFor, conn: asyncpg.Connection, batch: Batch) -> batches.Merged:
    try:
        schema = await schema_for(conn, False)
    except BreakwaterError:
        return batches.Merged()  # each query meets the error on its own
    return batches.plan(schema, batch.queries)


def isolation_of(batch: Batch) -> str | None:
    """The batch's isolation level as SQL names it (READ COMMITTED, …), None for the default."""
    if batch.isolation is None:
        return None
    level = ISOLATION_LEVELS.get(batch.isolation)
    if level is None:
        raise QueryValidationError(
            f"Invalid isolation level `{batch.isolation}`; Postgres supports "
            "ReadUncommitted, ReadCommitted, RepeatableRead and Serializable.",
            code=Code.VALUE_INCONSISTENT,
        )
    return level


async def run_batch(
    state: OriginState,
    caller: Caller,
    schema_for: SchemaFor,
    batch: Batch,
    tx_id: str | None = None,
    on_query: OnQuery | None = None,
    record: Served | None = None,
    protocol: str = "v1",
) -> list[Outcome | BreakwaterError]:
    """Each query's outcome or error. In a transactional batch the first error fails the whole batch
    (raised, nothing kept); otherwise queries succeed or fail one by one."""
    check_writes(caller, batch.queries)
    isolation = isolation_of(batch)
    read_only = not caller.can_write()
    await state.metering.gate.admit(caller)
    # A batch of N is N operations, noted before any runs: a transactional batch that fails part-way
    # failed as a whole (the answer is one error), the queries after the failing one included.
    into = record or Served(0)
    noted = {id(q): into.start(caller, protocol, q.model, q.action, tx_id) for q in batch.queries}

    merged = batches.Merged()  # the findUniques one statement answers (origin/engine/batch.py)

    async def run(query: JsonQuery, conn: asyncpg.Connection) -> Outcome:
        operation = noted[id(query)]
        shared = merged.answered(query)
        try:
            with operation.running():
                outcome = merged.answer(query) if shared else await _run(schema_for, query, conn, read_only)
        finally:
            if shared:
                operation.duration_ms = merged.share_ms(query)
        _noted(operation, outcome)
        state.insights.notes.note(caller.database_id, query, outcome)
        return outcome

    async def in_connection(conn: asyncpg.Connection) -> list[Outcome | BreakwaterError]:
        nonlocal merged
        async with queries_logged(conn, on_query):
            if len(batch.queries) > 1:
                merged = await _merged(schema_for, conn, batch)
            return await in_logged_connection(conn)

    async def in_logged_connection(conn: asyncpg.Connection) -> list[Outcome | BreakwaterError]:
        if batch.transaction and tx_id is None:
            # Every query of a transactional batch is checked before any runs: an invalid query
            # fails the batch before the others could fail it otherwise, as with Prisma's engine.
            schema = await schema_for(conn, False)
            for q in batch.queries:
                if q.action not in ("queryRaw", "executeRaw") and q.model in schema.models:
                    compiled, env = engine.prepare(schema, q)
                    check_leaves(compiled.steps, env)
            if read_only:
                async with readonly.transaction(conn, isolation):
                    return [await run_in_transaction(q, conn) for q in batch.queries]
            level = _ASYNCPG_ISOLATION[isolation] if isolation else None
            async with conn.transaction(isolation=level):
                return [await run_in_transaction(q, conn) for q in batch.queries]
        results: list[Outcome | BreakwaterError] = []
        for q in batch.queries:
            try:
                if merged.pending(q):
                    if read_only and tx_id is None:
                        async with readonly.transaction(conn):
                            await merged.run_group_of(q, conn, own=True)
                    else:
                        await merged.run_group_of(q, conn)
                if merged.answered(q) or not read_only or tx_id is not None:
                    results.append(await run(q, conn))
                else:
                    async with readonly.transaction(conn):
                        results.append(await run(q, conn))
            except readonly.LeftReadOnly:
                raise  # the session is gone: nothing more runs on it
            except BreakwaterError as exc:
                if batch.transaction:
                    raise
                results.append(exc)
        return results

    async def run_in_transaction(query: JsonQuery, conn: asyncpg.Connection) -> Outcome:
        if merged.pending(query):
            await merged.run_group_of(query, conn)
        return await run(query, conn)

    try:
        if tx_id is not None:
            return await state.transactions.run(caller, tx_id, in_connection)
        async with state.tenants.serving(caller.database_id, read_only=read_only) as conn:
            return await in_connection(conn)
    finally:
        _shaped([(noted[id(q)], q) for q in batch.queries])
