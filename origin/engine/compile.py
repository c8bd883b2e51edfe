"""One JSON-protocol operation (as a skeleton, see `fingerprint`) → a `Program`: a read, aggregate or
groupBy is one statement rendered from its plan; a write is its action's function in
`writeactions.WRITES`. Each program names the models it reads and writes (the cache's tags)."""

from __future__ import annotations

from typing import Any

from bwcontract.codes import Code

from ..errors import QueryValidationError
from .aggregates import plan_aggregate, plan_group_by
from .arguments import model_of
from .nodes import GroupByPlan, ReadPlan, Related
from .params import Const
from .program import Expect, Program, Statement
from .reads import READ_ACTIONS, plan_read, plan_selection
from .schema import Model, Schema
from .sql import NOTHING_READ, Builder, render_aggregate, render_group_by, render_read
from .writeactions import WRITES, check_returned_relations
from .writes import WriteCompiler
from .writesql import render_steps
from .writesteps import NOT_FOUND

WRITE_ACTIONS = frozenset(
    {
        "createOne",
        "createMany",
        "createManyAndReturn",
        "updateOne",
        "updateMany",
        "updateManyAndReturn",
        "upsertOne",
        "deleteOne",
        "deleteMany",
        "executeRaw",
    }
)
QUERY_ACTIONS = frozenset({*READ_ACTIONS, *WRITE_ACTIONS, "aggregate", "groupBy"})

_NOT_FOUND_CAUSE = "No record was found for a query."


def compile_operation(schema: Schema, action: str, model_name: str | None, query: Any) -> Program:
    if action not in QUERY_ACTIONS or action == "executeRaw":
        raise QueryValidationError(f"The action `{action}` is not supported.", meta={"action": action})
    model = model_of(schema, model_name)
    if not isinstance(query, dict):
        raise QueryValidationError("The query has no `query` object with `arguments` and `selection`.")
    args = query.get("arguments") or {}
    selection = query.get("selection")
    if selection is None:
        selection = {"$scalars": True}
    if not isinstance(args, dict) or not isinstance(selection, dict):
        raise QueryValidationError("`query.arguments` and `query.selection` must be objects.")
    if action in READ_ACTIONS:
        read = plan_read(schema, model, action, args, selection)
        b = Builder(schema)
        # `take: 0` is answered without asking the database, as Prisma's engine answers it.
        sql = NOTHING_READ if action == "findMany" and read.take == Const(0) else render_read(b, read)
        or_throw = None
        if action.endswith("OrThrow"):
            or_throw = Expect(
                Code.RECORD_NOT_FOUND,
                NOT_FOUND + _NOT_FOUND_CAUSE,
                {"cause": _NOT_FOUND_CAUSE},
            )
        return Program(
            (Statement(sql, tuple(b.sources), result=True),),
            "many" if action == "findMany" else "one",
            or_throw,
            models_read=frozenset(reads_of(schema, read)),
        )
    if action == "aggregate":
        agg = plan_aggregate(schema, model, args, selection)
        b = Builder(schema)
        sql = render_aggregate(b, agg)
        return Program(
            (Statement(sql, tuple(b.sources), result=True),),
            "one",
            models_read=frozenset(reads_of(schema, agg.read)),
        )
    if action == "groupBy":
        group = plan_group_by(schema, model, args, selection)
        b = Builder(schema)
        sql = render_group_by(b, group)
        return Program(
            (Statement(sql, tuple(b.sources), result=True),),
            "many",
            models_read=frozenset(_group_reads(group)),
        )
    return _compile_write(schema, model, action, args, selection)


def reads_of(schema: Schema, read: ReadPlan) -> set[str]:
    """The model and every model its filters, orders and selection go through."""
    found = {read.model.name}
    _filter_models(read.filter, found)
    _filter_models(read.cursor_where, found)
    for o in read.order:
        found.update(r.target for r in o.path)
        if o.count_of is not None:
            found.add(o.count_of.target)
    for kind, _name, payload in read.selection.entries:
        if kind == "relation":
            found.update(reads_of(schema, payload))
        elif kind == "count":
            for _n, rc in payload:
                found.add(rc.model.name)
                _filter_models(rc.filter, found)
    return found


def _group_reads(group: GroupByPlan) -> set[str]:
    found = {group.model.name}
    _filter_models(group.filter, found)
    return found


def _filter_models(f: Any, found: set[str]) -> None:
    if f is None:
        return
    if isinstance(f, Related):
        found.add(f.model.name)
        _filter_models(f.inner, found)
    for attr in ("items",):
        for item in getattr(f, attr, ()):
            _filter_models(item, found)
    if hasattr(f, "item"):
        _filter_models(f.item, found)


def _compile_write(
    schema: Schema, model: Model, action: str, args: dict[str, Any], selection: Any
) -> Program:
    write = WRITES.get(action)
    if write is None:  # pragma: no cover - QUERY_ACTIONS is exhaustive
        raise QueryValidationError(f"The action `{action}` is not supported.")
    if action in ("createManyAndReturn", "updateManyAndReturn"):
        check_returned_relations(model, selection, action)
    c = WriteCompiler(schema)
    steps, output = write(c, model, action, args, selection)
    read_models: set[str] = {model.name}
    if output != "count":
        read_models |= _selection_reads(schema, model, selection)
    read_models |= c.read
    return Program(
        render_steps(schema, steps),
        output,
        models_read=frozenset(read_models),
        models_written=frozenset(c.written),
    )


def _selection_reads(schema: Schema, model: Model, selection: Any) -> set[str]:
    sel = plan_selection(schema, model, selection, "select")
    return reads_of(schema, ReadPlan(model, sel))
