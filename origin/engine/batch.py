"""One statement for a batch's findUniques of one shape, as Prisma's engine answers its dataloader.

The Prisma client sends the `findUnique` calls of one tick as one `{"batch": [...]}`. Run one by one
they cost a round trip and a statement each; Prisma's engine turns such a batch into one `findMany`
with `IN` and hands each query its row. Here the same happens per group of a batch's queries:

- a group is the findUnique / findUniqueOrThrow queries of one model and one shape (`fingerprint`)
  whose `where` is, at its top, a conjunction of equalities to values (`{id}`, a compound unique,
  `{email: {equals}}`; those are the *criteria*), and whose other values (the selection's nested
  arguments, any further filter beside the criteria) are equal, so the rest of the statement is the
  same for every one of them;
- its statement reads every row that equals one query's criteria: `col = ANY($1)` for one field,
  `(a, b) IN (SELECT * FROM ROWS FROM (unnest($1), unnest($2)))` for several, each criteria field's
  values as one array parameter (values never enter the text); beside each row's JSON, Postgres
  says which queries' values it equals (`array_positions`, with the column's own equality, so a
  uuid, a citext or a timestamp matches as it would in the query's own statement);
- each query's answer is its row's JSON, or null where none was found (P2025 for ...OrThrow),
  exactly what its own program would have given (`engine.outcome_of`).

Where Prisma merges only a batch made entirely of one such shape, groups are formed inside any batch
(the rest runs as before), and only among neighbouring reads: a write or raw query in between
splits them, so no query sees the database at another moment than it would have.

A query whose values do not convert (the error is its own) runs alone. When the shared statement
fails, outside a transaction each query runs alone and so gets its own answer; inside one, a value
the driver could not encode fails nothing on the server, so the same happens; any other failure
there is every member's error (the transaction is aborted, as a failing query would have left it).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from ..dberrors import map_database_error
from ..errors import BreakwaterError
from . import engine
from .fingerprint import fingerprint, skeleton
from .nodes import All, Compare, Filter, Op, ReadPlan
from .outcome import Outcome
from .params import Const, Env, Leaf, Source, resolve
from .program import Program
from .quoting import column, ident
from .reads import plan_read
from .request import JsonQuery
from .schema import Schema
from .sql import Builder, model_table, render_filter, selection_json

MERGED_ACTIONS = frozenset({"findUnique", "findUniqueOrThrow"})
# The actions that leave the data as it is: a group may span them. Any other (a write, a raw query)
# ends the groups before it, so every query reads the database as it would have in batch order.
_READS = frozenset(
    {"findUnique", "findUniqueOrThrow", "findFirst", "findFirstOrThrow", "findMany", "aggregate", "groupBy"}
)
_CACHE_SIZE = 500
# Members of one statement at most: Postgres finds each row's queries by a scan of the arrays
# (`array_positions`), so a statement's cost grows with the square of its members; past this,
# one more statement costs less (a batch may hold 5000 queries, see request.py).
MAX_GROUP = 500


@dataclass(frozen=True)
class Merge:
    """The shared statement of one findUnique shape: `sql` with `sources`, where the parameters at
    `arrays` take, in order of `criteria`, the array of every member's value of that criteria field."""

    sql: str
    sources: tuple[Source, ...]
    arrays: tuple[int, ...]
    criteria: tuple[Leaf, ...]

    @property
    def criteria_leaves(self) -> frozenset[int]:
        return frozenset(c.index for c in self.criteria)


@dataclass
class _Member:
    query: JsonQuery
    compiled: Program
    key: str
    env: Env
    values: list[Any]  # its criteria values, converted as its own statement would bind them


@dataclass
class _Group:
    merge: Merge
    members: list[_Member]
    answers: dict[int, Outcome | BreakwaterError] | None = None  # by id(query), once it ran
    share_ms: float = 0.0


@dataclass
class Merged:
    """A batch's merged groups: which queries one shared statement answers, and their answers."""

    schema: Schema = field(default_factory=Schema)
    groups: dict[int, _Group] = field(default_factory=dict)  # id(query) → its group

    def pending(self, query: JsonQuery) -> bool:
        """The query belongs to a group whose statement has not run yet."""
        group = self.groups.get(id(query))
        return group is not None and group.answers is None

    def answered(self, query: JsonQuery) -> bool:
        group = self.groups.get(id(query))
        return group is not None and group.answers is not None and id(query) in group.answers

    async def run_group_of(self, query: JsonQuery, conn: asyncpg.Connection, *, own: bool = False) -> None:
        """Run the shared statement of the query's group (once); on a failure that leaves each
        member to run alone, the group is dissolved. `own`: a transaction `conn` is in was begun
        for this statement alone (a read-only key's), so a failure in it harms nothing else."""
        group = self.groups[id(query)]
        started = time.perf_counter()
        answers = await _run(conn, self.schema, group, alone=own or not conn.is_in_transaction())
        if answers is None:
            for member in group.members:
                self.groups.pop(id(member.query), None)
            return
        group.answers = answers
        group.share_ms = (time.perf_counter() - started) * 1000 / len(group.members)

    def answer(self, query: JsonQuery) -> Outcome:
        """The query's outcome from its group's statement (raises its error)."""
        group = self.groups[id(query)]
        assert group.answers is not None
        found = group.answers[id(query)]
        if isinstance(found, BreakwaterError):
            raise found
        return found

    def share_ms(self, query: JsonQuery) -> float:
        """The query's share of its group's statement time: the members' times add up to it."""
        return self.groups[id(query)].share_ms


def plan(schema: Schema, queries: list[JsonQuery]) -> Merged:
    """Group the batch's mergeable findUniques; a group of one runs as it would have alone."""
    merged = Merged(schema)
    segment: dict[tuple[str, str], _Group] = {}  # the open group of each key since the last write
    groups: list[_Group] = []
    for query in queries:
        if query.action not in _READS:
            segment = {}
            continue
        found = _member(schema, query)
        if found is None:
            continue
        group_key, member, merge = found
        group = segment.get(group_key)
        if group is None or len(group.members) == MAX_GROUP:
            group = segment[group_key] = _Group(merge, [])
            groups.append(group)
        group.members.append(member)
    for group in groups:
        if len(group.members) > 1:
            for member in group.members:
                merged.groups[id(member.query)] = group
    return merged


def _member(schema: Schema, query: JsonQuery) -> tuple[tuple[str, str], _Member, Merge] | None:
    """The query as a group member: its group's key (shape and the values it shares), or None
    when it runs alone."""
    if query.action not in MERGED_ACTIONS or query.model not in schema.models:
        return None
    try:
        shape_key, leaves = fingerprint(query.body)
        compiled, key = engine.compiled_for(schema, query, shape_key)
        merge = _merge_for(schema, query, shape_key)
        if merge is None:
            return None
        env = Env(leaves)
        values = [leaf.get(env) for leaf in merge.criteria]
    except BreakwaterError:
        return None  # it fails on its own, with its own error
    criteria = merge.criteria_leaves
    shared = json.dumps([v for i, v in enumerate(leaves) if i not in criteria], sort_keys=True, default=str)
    group_key = (f"{query.model}:{shape_key}", shared)
    return group_key, _Member(query, compiled, key, env, values), merge


def _merges_of(schema: Schema) -> OrderedDict[str, Merge | None]:
    found: OrderedDict[str, Merge | None] | None = getattr(schema, "_batch_merges", None)
    if found is None:
        found = OrderedDict()
        schema._batch_merges = found  # type: ignore[attr-defined]
    return found


def _merge_for(schema: Schema, query: JsonQuery, shape_key: str) -> Merge | None:
    cache = _merges_of(schema)
    cache_key = f"{query.model}:{shape_key}"
    if cache_key in cache:
        cache.move_to_end(cache_key)
        return cache[cache_key]
    merge = _compile(schema, query)
    cache[cache_key] = merge
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return merge


def _compile(schema: Schema, query: JsonQuery) -> Merge | None:
    """The shared statement of the query's shape, or None when its `where` is not criteria."""
    body = skeleton(query.body)
    model = schema.models[query.model or ""]
    read = plan_read(schema, model, "findUnique", body.get("arguments") or {}, _selection(body))
    split = _criteria(read.filter)
    if split is None:
        return None
    criteria, rest = split
    return _render(schema, read, criteria, rest)


def _selection(body: dict[str, Any]) -> Any:
    selection = body.get("selection")
    return {"$scalars": True} if selection is None else selection


def _criterion(f: Filter) -> bool:
    """An equality of a plain column to one query's value: what `= ANY` and `array_positions` test
    as the query's own `col = $n` does."""
    return (
        isinstance(f, Compare)
        and f.op == Op.EQ
        and isinstance(f.value, Leaf)
        and not f.insensitive
        and f.json_path is None
        and f.other is None
        and not f.aggregate
        and not f.field.is_list
        and f.field.type != "Json"
    )


def _criteria(f: Filter | None) -> tuple[list[Compare], Filter | None] | None:
    """The top-level equalities of `f` (one per field) and the rest of it, or None without any."""
    items = f.items if isinstance(f, All) else (f,) if f is not None else ()
    criteria: list[Compare] = []
    rest: list[Filter] = []
    for item in items:
        if _criterion(item) and all(c.field.name != item.field.name for c in criteria):  # type: ignore[attr-defined]
            assert isinstance(item, Compare)
            criteria.append(item)
        else:
            rest.append(item)
    if not criteria:
        return None
    return criteria, (None if not rest else rest[0] if len(rest) == 1 else All(tuple(rest)))


def _render(schema: Schema, read: ReadPlan, criteria: list[Compare], rest: Filter | None) -> Merge:
    b = Builder(schema)
    alias = b.alias()
    arrays: list[int] = []
    params: list[str] = []
    columns: list[str] = []
    for c in criteria:
        params.append(b.param(Const(None)))  # replaced by the members' values when it runs
        arrays.append(len(b.sources) - 1)
        columns.append(column(alias, c.field.column))
    # The positions come first in the text: Postgres types each array parameter from its column there.
    positions = [f"pg_catalog.array_positions({p}, {col})" for p, col in zip(params, columns, strict=True)]
    body = selection_json(b, read.selection, alias)
    if len(criteria) == 1:
        tests = [f"{columns[0]} = ANY({params[0]})"]
    else:
        unnested = ", ".join(f"pg_catalog.unnest({p})" for p in params)
        tests = [f"({', '.join(columns)}) IN (SELECT * FROM ROWS FROM ({unnested}))"]
    if rest is not None:
        tests.append(render_filter(b, rest, alias))
    sql = (
        f"SELECT {', '.join(positions)}, {body} FROM {model_table(read.model)} AS {ident(alias)} "
        f"WHERE {' AND '.join(tests)}"
    )
    leaves = tuple(c.value for c in criteria if isinstance(c.value, Leaf))
    return Merge(sql, tuple(b.sources), tuple(arrays), leaves)


async def _run(
    conn: asyncpg.Connection, schema: Schema, group: _Group, *, alone: bool
) -> dict[int, Outcome | BreakwaterError] | None:
    """Every member's answer from one statement; None when each member should run alone."""
    merge = group.merge
    first = group.members[0]
    try:
        params = resolve(merge.sources, first.env)  # the same for every member (see `plan`)
    except BreakwaterError:
        return None
    for position, arrays_index in enumerate(merge.arrays):
        params[arrays_index] = [m.values[position] for m in group.members]
    try:
        records = await conn.fetch(merge.sql, *params)
    except asyncpg.PostgresError as exc:
        # asyncpg chains the codec's own error to a value it could not encode: nothing reached the
        # server, so a transaction around it is intact.
        if alone or exc.__cause__ is not None:
            return None
        error = map_database_error(exc)
        return {id(m.query): error for m in group.members}
    except asyncpg.InterfaceError:
        return None
    found: dict[int, str] = {}
    width = len(merge.arrays)
    for record in records:
        matches = set(record[0] or ())
        for i in range(1, width):
            matches &= set(record[i] or ())
        for position in matches:
            found.setdefault(position - 1, record[width])  # the first row, as LIMIT 1 has it
    answers: dict[int, Outcome | BreakwaterError] = {}
    for index, member in enumerate(group.members):
        try:
            answers[id(member.query)] = engine.outcome_of(
                schema, member.compiled, member.key, found.get(index)
            )
        except BreakwaterError as exc:  # ...OrThrow found nothing
            answers[id(member.query)] = exc
    return answers
