"""The write actions, one function each (createOne, createMany[AndReturn], updateOne, upsertOne,
deleteOne, updateMany[AndReturn], deleteMany): the checks of their arguments, the statements a
`writes.WriteCompiler` plans for them, and how the result is read (in the write's statement with
`RETURNING`, or after it). `compile` looks an action up in `WRITES`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bwcontract.codes import Code

from .arguments import count_source, fail
from .filters import plan_where, unique_filter
from .nodes import Filter, ReadPlan
from .program import Expect, Rebind
from .reads import plan_selection
from .schema import Model, Schema
from .writenodes import (
    AmongWritten,
    Branch,
    Cond,
    DeleteRows,
    InsertMany,
    InsertRow,
    Limited,
    Matches,
    PlanStep,
    Run,
    SelectRow,
    SelectUnchanged,
    UpdateRows,
    WithWritten,
    Write,
    WrittenKeys,
)
from .writes import WriteCompiler, read_back
from .writesteps import NOT_FOUND


def _require(args: dict[str, Any], allowed: set[str], required: set[str], action: str) -> None:
    unknown = set(args) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise fail(f"Unknown argument `{name}` for {action}.", name)
    missing = required - set(args)
    if missing:
        name = sorted(missing)[0]
        raise fail(f"Argument `{name}` is missing in {action}.", name)


def _has_relations(model: Model, data: Any) -> bool:
    return isinstance(data, dict) and any(k in model.relations for k in data)


def check_returned_relations(model: Model, selection: Any, action: str) -> None:
    """`…AndReturn` reads back only the records the returned ones point at (their keys are in
    the returned rows)."""
    if not isinstance(selection, dict):
        return
    for name, value in selection.items():
        relation = model.relations.get(name)
        if value is False or not (relation is not None or name == "_count"):
            continue
        if relation is None or relation.is_list or relation.joined().kind != "fk_here":
            kind = "Create" if action.startswith("create") else "Update"
            raise fail(
                f"Unknown field `{name}` for select statement on model "
                f"`{kind}Many{model.name}AndReturnOutputType`.",
                name,
            )


def _selects_relations(model: Model, selection: Any) -> bool:
    return isinstance(selection, dict) and any(
        (k in model.relations or k == "_count") and v is not False for k, v in selection.items()
    )


def _reads_model(schema: Schema, model: Model, selection: Any, wanted: str) -> bool:
    """Whether `selection` reads rows of model `wanted` through relations: a read beside an INSERT
    in one statement sees the table as it was before, without the new row (a record that is its own
    parent, a post's author's posts)."""
    if not isinstance(selection, dict):
        return False
    for name, value in selection.items():
        if value is False:
            continue
        if name == "_count":
            if any(rel.target == wanted for rel in model.relations.values()):
                return True
            continue
        rel = model.relations.get(name)
        if rel is None:
            continue
        if rel.target == wanted:
            return True
        inner = value.get("selection") if isinstance(value, dict) else None
        if _reads_model(schema, schema.models[rel.target], inner, wanted):
            return True
    return False


# A write's program steps and its output ("one", "many" or "count").
_Compiled = tuple[tuple[PlanStep, ...], str]


def _create_one(
    c: WriteCompiler, model: Model, action: str, args: dict[str, Any], selection: Any
) -> _Compiled:
    """createOne: one record, its nested writes, read back."""
    schema = c.schema
    steps: tuple[PlanStep, ...]
    # Without `data` the record is made of its defaults, when it can be (Prisma's engine).
    needs = [f for f in model.fields.values() if f.required and not f.has_default and not f.is_list]
    _require(args, {"data"}, {"data"} if needs else set(), action)
    args = {**args, "data": args.get("data", {})}
    if not _has_relations(model, args["data"]) and not _reads_model(schema, model, selection, model.name):
        c.create(model, args["data"], "data")
        insert = c.steps.pop()
        assert isinstance(insert, Run) and isinstance(insert.node, InsertRow)
        steps = (_returning(c, insert.node, model, selection, single=True),)
    else:
        bound = c.create(model, args["data"], "data")
        steps = (*c.steps, read_back(c, model, selection, bound))
    return steps, "one"


def _create_many(
    c: WriteCompiler, model: Model, action: str, args: dict[str, Any], selection: Any
) -> _Compiled:
    """createMany / createManyAndReturn: one INSERT of many rows."""
    output = "one"
    steps: tuple[PlanStep, ...]
    _require(args, {"data", "skipDuplicates"}, {"data"}, action)
    returning = action == "createManyAndReturn"
    statement = c.create_many(
        model, args["data"], "data", bool(args.get("skipDuplicates")), returning=returning
    )
    assert isinstance(statement.node, InsertMany)
    if returning and _selects_relations(model, selection):
        steps = _returning_many(c, statement.node, model, selection)
        output = "many"
    elif returning:
        steps = (_returning(c, statement.node, model, selection, single=False),)
        output = "many"
    else:
        steps = tuple(c.steps)
        output = "count"
    return steps, output


def _update_one(
    c: WriteCompiler, model: Model, action: str, args: dict[str, Any], selection: Any
) -> _Compiled:
    """updateOne: one record by unique criteria (P2025 when there is none)."""
    schema = c.schema
    steps: tuple[PlanStep, ...]
    _require(args, {"where", "data"}, {"where", "data"}, action)
    where = unique_filter(schema, model, args["where"])
    expect = Expect(
        Code.RECORD_NOT_FOUND,
        NOT_FOUND + "Record to update not found.",
        {"cause": "Record to update not found."},
    )
    if not _has_relations(model, args["data"]) and not _selects_relations(model, selection):
        data = c.check_data(model, args["data"], "data")
        c.check_input(model, data, "data")
        c.wrote(model)
        sets = c.set_clause(model, data, "data")
        condition = Matches(where, write=bool(sets))
        write: Write = (
            UpdateRows(model, sets, condition, returning="row") if sets else SelectUnchanged(model, condition)
        )
        steps = (_returning(c, write, model, selection, single=True, expect=expect),)
    else:
        # A missing record is found out where Prisma's engine finds it: after the writes of the
        # records it points at (their errors come first), at its own update.
        # Prisma's engine finds the record by its UPDATE when there are fields to set, else by a read.
        data = args["data"]
        scalars = isinstance(data, dict) and any(k in model.fields for k in data)
        found = _find_for_update(c, model, where, None, write=scalars)
        updated = c.update_record(model, found, data, "data", missing=expect)
        # Read after the writes: a key the update changed has moved the related rows with it.
        steps = (*c.steps, read_back(c, model, selection, updated))
    return steps, "one"


def _upsert_one(
    c: WriteCompiler, model: Model, action: str, args: dict[str, Any], selection: Any
) -> _Compiled:
    """upsertOne: the record's update when found, else its create."""
    schema = c.schema
    steps: tuple[PlanStep, ...]
    _require(args, {"where", "create", "update"}, {"where", "create", "update"}, action)
    where = unique_filter(schema, model, args["where"])
    found = _find_for_update(c, model, where, None)
    outer = c.steps
    c.steps = []
    result = c.name()
    c.steps.append(Rebind(result, c.update_record(model, found, args["update"], "update")))
    then = tuple(c.steps)
    c.steps = []
    c.steps.append(Rebind(result, c.create(model, args["create"], "create")))
    otherwise = tuple(c.steps)
    c.steps = [*outer, Branch(found, then, otherwise)]
    steps = (*c.steps, read_back(c, model, selection, result))
    return steps, "one"


def _delete_one(
    c: WriteCompiler, model: Model, action: str, args: dict[str, Any], selection: Any
) -> _Compiled:
    """deleteOne: one record by unique criteria (P2025 when there is none)."""
    schema = c.schema
    steps: tuple[PlanStep, ...]
    _require(args, {"where"}, {"where"}, action)
    unique = unique_filter(schema, model, args["where"])
    c.wrote(model, deleting=True)
    delete = DeleteRows(model, Matches(unique, write=True), returning="row")
    expect = Expect(
        Code.RECORD_NOT_FOUND,
        NOT_FOUND + "Record to delete does not exist.",
        {"cause": "Record to delete does not exist."},
    )
    steps = (_returning(c, delete, model, selection, single=True, expect=expect),)
    return steps, "one"


def _many(c: WriteCompiler, model: Model, action: str, args: dict[str, Any], selection: Any) -> _Compiled:
    """updateMany / updateManyAndReturn / deleteMany: the records a filter finds (at most `limit`)."""
    schema = c.schema
    output = "one"
    steps: tuple[PlanStep, ...]
    allowed = {"where", "limit"} | ({"data"} if action != "deleteMany" else set())
    _require(args, allowed, {"data"} if action != "deleteMany" else set(), action)
    many = plan_where(schema, model, args.get("where"))
    condition: Cond = Matches(many, write=True)
    if args.get("limit") is not None:
        # Prisma's `limit`: at most n rows, chosen by the database.
        condition = Limited(model, condition, count_source(args["limit"], "limit"))
    c.wrote(model, deleting=action == "deleteMany")
    if action == "deleteMany":
        steps = (Run(DeleteRows(model, condition), count=True),)
        output = "count"
    else:
        data = c.check_data(model, args["data"], "data")
        if _has_relations(model, data):
            raise fail(f"`{action}` does not take nested relations.", "data")
        # No data still counts (and returns) the rows matched: a SET that changes nothing.
        sets = c.set_clause(model, data, "data")
        returning = "row" if action == "updateManyAndReturn" else ""
        update = UpdateRows(model, sets, condition, returning=returning, where_first=True)
        if action == "updateMany":
            steps = (Run(update, count=True),)
            output = "count"
        else:
            if _selects_relations(model, selection):
                steps = _returning_many(c, update, model, selection)
            else:
                steps = (_returning(c, update, model, selection, single=False),)
            output = "many"
    return steps, output


WRITES: dict[str, Callable[[WriteCompiler, Model, str, dict[str, Any], Any], _Compiled]] = {
    "createOne": _create_one,
    "createMany": _create_many,
    "createManyAndReturn": _create_many,
    "updateOne": _update_one,
    "upsertOne": _upsert_one,
    "deleteOne": _delete_one,
    "updateMany": _many,
    "updateManyAndReturn": _many,
    "deleteMany": _many,
}


def _find_for_update(
    c: WriteCompiler, model: Model, where: Filter, expect: Expect | None, *, write: bool = False
) -> str:
    """The record an update or upsert changes; `write`: found as an UPDATE's condition finds it."""
    bound = c.name()
    select = SelectRow(model, Matches(where, write=write), for_update=True)
    c.steps.append(Run(select, bind=bound, expect=expect))
    return bound


def _returning(
    c: WriteCompiler,
    write: Write,
    model: Model,
    selection: Any,
    *,
    single: bool,
    expect: Expect | None = None,
) -> Run:
    """The write and the selection of the rows it returned, in one statement."""
    read = ReadPlan(model, plan_selection(c.schema, model, selection, "select"), single=single)
    return Run(WithWritten(write, read), expect=expect, result=True)


def _returning_many(c: WriteCompiler, write: Write, model: Model, selection: Any) -> tuple[Run, Run]:
    """A many-row write whose selection reads related records: the write, keeping the written rows'
    identities, then the read (a statement of its own sees what the write changed, such as a parent
    written in the same statement)."""
    name = c.name()
    read = ReadPlan(model, plan_selection(c.schema, model, selection, "select"), single=False)
    return Run(WrittenKeys(model, write), bind=name), Run(AmongWritten(model, read, name), result=True)
