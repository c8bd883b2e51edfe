"""Run JSON-protocol operations: fingerprint → (cached) compile → bind → execute → shape.

The compiled program of a query shape is cached on its schema (a new schema is a new cache), so a
repeated shape skips parsing, planning and SQL rendering; only its values are converted and bound.
"""

from __future__ import annotations

from collections import OrderedDict

import asyncpg

from bwcontract.codes import Code

from ..errors import KnownRequestError
from . import program as programs
from . import raw
from .compile import WRITE_ACTIONS, compile_operation
from .fingerprint import fingerprint, skeleton
from .outcome import Outcome, shape_id
from .params import Env
from .request import JsonQuery
from .schema import Schema
from .shape import shape

CACHE_SIZE = 2000
_MAX_KEY = 20_000  # a shape this large (e.g. createMany of many rows) is compiled each time


def is_write(action: str) -> bool:
    return action in WRITE_ACTIONS


class ShapeCache:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[str, programs.Program] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> programs.Program | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
            self.hits += 1
        return found

    def put(self, key: str, compiled: programs.Program) -> None:
        self.misses += 1
        if len(key) > _MAX_KEY:
            return
        self.entries[key] = compiled
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


def cache_of(schema: Schema) -> ShapeCache:
    found: ShapeCache | None = getattr(schema, "_shape_cache", None)
    if found is None:
        found = ShapeCache()
        schema._shape_cache = found  # type: ignore[attr-defined]
    return found


def prepare(schema: Schema, query: JsonQuery) -> tuple[programs.Program, Env]:
    """The compiled program for the query's shape, and its values ready to bind."""
    compiled, env, _key = _prepared(schema, query)
    return compiled, env


def _prepared(schema: Schema, query: JsonQuery) -> tuple[programs.Program, Env, str]:
    shape_key, leaves = fingerprint(query.body)
    compiled, key = compiled_for(schema, query, shape_key)
    return compiled, Env(leaves), key


def compiled_for(schema: Schema, query: JsonQuery, shape_key: str) -> tuple[programs.Program, str]:
    """The (cached) program of the query's shape, and its cache key (what `shape_id` is made of)."""
    key = f"{query.model}.{query.action}:{shape_key}"
    cache = cache_of(schema)
    compiled = cache.get(key)
    if compiled is None:
        compiled = compile_operation(schema, query.action, query.model, skeleton(query.body))
        cache.put(key, compiled)
    return compiled, key


async def run(schema: Schema, query: JsonQuery, conn: asyncpg.Connection) -> Outcome:
    """Run one operation on `conn` (which the caller has put in a transaction if it needs one)."""
    if query.action in ("queryRaw", "executeRaw"):
        return await raw.run(schema, query, conn)
    compiled, env, key = _prepared(schema, query)
    try:
        result = await programs.run(conn, compiled, env)
    except KnownRequestError as exc:
        raise in_field_names(schema, exc) from None
    return outcome_of(schema, compiled, key, result)


def outcome_of(schema: Schema, compiled: programs.Program, key: str, result: object) -> Outcome:
    """The outcome of a program that gave `result` (raises the OrThrow actions' not-found error)."""
    return Outcome(
        shape(compiled, result),
        compiled.models_read,
        compiled.models_written,
        schema.tables_of(compiled.models_read),
        schema.tables_of(compiled.models_written),
        shape=shape_id(key),
        rows=_rows(compiled, result),
        sql=_read_sql(compiled),
    )


def _read_sql(compiled: programs.Program) -> str | None:
    single = compiled.single_statement
    return single.sql if single is not None and not compiled.writes else None


def shape_of(query: JsonQuery) -> str | None:
    """The shape id `run` gives the query's outcome: for an operation that failed without one."""
    if query.action in ("queryRaw", "executeRaw"):
        sql = query.arguments.get("query")
        return shape_id(f"raw:{sql}") if isinstance(sql, str) else None
    try:
        shape_key, _ = fingerprint(query.body)
    except Exception:  # a body the engine refused: it has no shape
        return None
    return shape_id(f"{query.model}.{query.action}:{shape_key}")


def _rows(compiled: programs.Program, result: object) -> int | None:
    """Rows the operation changed (…Many counts) or returned (one or none); a list's length is not
    known without parsing its JSON, so it is not counted."""
    if compiled.output == "count":
        return result if isinstance(result, int) else None
    if compiled.output == "one":
        return 0 if result is None else 1
    return None


def in_field_names(schema: Schema, exc: KnownRequestError) -> KnownRequestError:
    """A unique violation names the Prisma fields (`@map`ped columns are the database's business)."""
    columns = exc.meta.get("target")
    table = exc.meta.get("database", {}).get("table")
    model = next((m for m in schema.models.values() if m.table == table), None)
    if exc.code != Code.UNIQUE_CONSTRAINT or model is None or not isinstance(columns, list):
        return exc
    by_column = {f.column: f.name for f in model.fields.values()}
    names = [by_column.get(c, c) for c in columns]
    exc.meta["target"] = names
    exc.message = "Unique constraint failed on the fields: (" + ", ".join(f"`{n}`" for n in names) + ")"
    return exc
