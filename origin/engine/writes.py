"""Write operations → programs of statements (see `program`).

A write without nested writes is one statement: the INSERT/UPDATE/DELETE runs in a CTE and the
selection is read from its RETURNING rows. Nested writes run in dependency order: records the new
row points at first (their keys fill its foreign keys), then the row, then records pointing at it
(and implicit many-to-many join rows); the selection is read back last by the row's identity.

This module plans: which statements run, in which order, with which values and which Prisma error
when one finds nothing, as `writenodes` plan nodes; their SQL text is `writesql`'s, which renders
the plan. `WriteCompiler` is one object over one list
of steps because the nested operations call each other recursively (a create's nested
connectOrCreate creates, whose nested writes connect, …); its parts are a chain of classes, one
module each: `writesteps` (the step list, the order of nested writes, input checks) ←
`writelinks` (lookups, connect, disconnect, connectOrCreate) ← `writecreates` (scalar data,
create, createMany) ← `writeupdates` (updates, nested updates, upserts, deletes) ← here, the
dispatch of a relation's nested operations and the read-back of the written record.
"""

from __future__ import annotations

from typing import Any

from .arguments import fail, items_of
from .nodes import All, Compare, Filter, Op, ReadPlan
from .params import Bound
from .reads import plan_selection
from .schema import Model, RelationField, Schema
from .writenodes import ReadBack, Run
from .writesteps import Mark, connect_expect
from .writeupdates import Updates

_NESTED = frozenset(
    {
        "create",
        "createMany",
        "connect",
        "connectOrCreate",
        "disconnect",
        "set",
        "update",
        "updateMany",
        "upsert",
        "delete",
        "deleteMany",
    }
)


class WriteCompiler(Updates):
    """Plans a write's steps; its parts are the classes it extends (see the module's docstring)."""

    # --- relations from an existing (or just created) parent --------------------------------------

    def nested(
        self,
        model: Model,
        rel: RelationField,
        parent: str,
        ops: Any,
        path: str,
        *,
        creating: bool,
        found: list[str] | None = None,
    ) -> None:
        if not isinstance(ops, dict):
            raise fail(f"`{path}` takes nested operations ({', '.join(sorted(_NESTED))}).", path)
        self.check_without_back(rel, ops, path)
        target = self.schema.models[rel.target]
        joined = rel.joined()
        child_fixed = self.child_fixed(model, rel, parent)
        for op, arg in ops.items():
            at = f"{path}.{op}"
            if op not in _NESTED:
                raise fail(f"Unknown nested operation `{op}`.", at)
            if creating and op in (
                "disconnect",
                "set",
                "update",
                "updateMany",
                "upsert",
                "delete",
                "deleteMany",
            ):
                raise fail(f"`{op}` is not available when creating (`{at}`).", at)
            if op == "create":
                items = items_of(arg, at) if rel.is_list else [arg]
                kinds = {self.input_kind(target, item, rel.back) for item in items} - {"either"}
                if len(kinds) > 1:
                    raise fail(
                        f"`{at}` mixes records written through their relations with records that set "
                        "their foreign keys directly; a list of creates takes one kind.",
                        at,
                    )
                self.take_over_child(model, rel, child_fixed)
                start = (self.steps, len(self.steps))
                for i, item in enumerate(items):

                    def make(item: Any = item, where: str = f"{at}.{i}" if rel.is_list else at) -> None:
                        created = self.create(
                            target,
                            item,
                            where,
                            fixed=child_fixed,
                            skip_relation=rel.back,
                            requires=parent if joined.kind == "fk_there" else "",
                        )
                        if joined.kind == "m2m":
                            self.join_rows(rel, parent, created)

                    if self.points_elsewhere(target, item, rel.back):
                        self.mark(Mark(make, start, self.connects_or_creates(target, item, rel.back)))
                    else:
                        make()
            elif op == "createMany":
                if not rel.is_list or joined.kind == "m2m":
                    raise fail("`createMany` applies to one-to-many relations.", at)
                if not isinstance(arg, dict) or "data" not in arg:
                    raise fail(f"`{at}` takes data.", at)
                self.require(parent)
                self.create_many(
                    target, arg["data"], f"{at}.data", bool(arg.get("skipDuplicates")), fixed=child_fixed
                )
            elif op == "connect" and joined.kind == "fk_there" and rel.is_list and found is None:
                for item in items_of(arg, at):
                    self.connect_by_update(model, rel, parent, item, at)
            elif op == "connect":
                lookups = found
                if lookups is None:
                    items = items_of(arg, at) if rel.is_list else [arg]
                    lookups = [
                        self.find_one(target, item, at, connect_expect(model, rel, target)) for item in items
                    ]
                if found is None and joined.kind == "m2m" and len(lookups) > 1:
                    self.all_distinct(target, lookups)
                for record in lookups:
                    self.connect_existing(rel, parent, record)
            elif op == "connectOrCreate":
                for item in items_of(arg, at) if rel.is_list else [arg]:
                    self.connect_or_create(target, item, at, fixed=child_fixed, link_to=(rel, parent))
            elif op == "disconnect":
                if rel.is_list and isinstance(arg, bool):
                    raise fail(f"`{at}` takes the records to disconnect (a list relation).", at)
                self.disconnect(model, rel, parent, arg, at)
            elif op == "set":
                if not rel.is_list:
                    raise fail("`set` applies to list relations.", at)
                self.disconnect(model, rel, parent, True, at, everything=True)
                # Prisma's engine points the records it finds at the parent: on a one-to-many a
                # record that does not exist is passed over; a many-to-many needs every one (P2025).
                strict = rel.joined().kind == "m2m"
                for item in arg if isinstance(arg, list) else [arg]:
                    expect = connect_expect(model, rel, target) if strict else None
                    record = self.find_one(target, item, at, expect)
                    self.connect_existing(rel, parent, record)
            elif op == "update":
                for item in items_of(arg, at) if rel.is_list else [arg]:
                    self.nested_update(model, rel, parent, item, at)
            elif op == "updateMany":
                for item in items_of(arg, at):
                    self.nested_many(rel, parent, item, at, delete=False)
            elif op == "deleteMany":
                for item in items_of(arg, at) if not isinstance(arg, bool) else [{}]:
                    self.nested_many(rel, parent, {"where": item}, at, delete=True)
            elif op == "delete":
                if rel.is_list and isinstance(arg, bool):
                    raise fail(f"`{at}` takes the records to delete (a list relation).", at)
                self.nested_delete(model, rel, parent, arg, at)
            elif op == "upsert":
                for item in items_of(arg, at) if rel.is_list else [arg]:
                    self.nested_upsert(model, rel, parent, item, at)


def identity_read(schema: Schema, model: Model, selection: Any, bound: str, path: str = "select") -> ReadPlan:
    """The selection of the record bound under `bound`, found by its identity."""
    read = ReadPlan(model, plan_selection(schema, model, selection, path), single=True)
    conditions: list[Filter] = [
        Compare(model.fields[k], Op.EQ, Bound(bound, model.fields[k].column)) for k in model.identity()
    ]
    read.filter = All(tuple(conditions)) if len(conditions) > 1 else conditions[0]
    return read


def read_back(compiler: WriteCompiler, model: Model, selection: Any, bound: str) -> Run:
    if not model.identity():
        raise fail(f"Model {model.name} has no id or required unique field to read the result by.", "select")
    return Run(ReadBack(identity_read(compiler.schema, model, selection, bound)), result=True)
