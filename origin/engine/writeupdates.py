"""Planning updates of bound records and the nested updates, upserts and deletes (one record,
or many by a filter) that run from a parent record."""

from __future__ import annotations

from typing import Any

from bwcontract.codes import Code

from .arguments import fail, items_of
from .filters import plan_where, unique_filter
from .params import Const, Source
from .program import Expect
from .schema import Model, RelationField
from .writecreates import Creates
from .writenodes import (
    Assign,
    Both,
    Branch,
    Cond,
    DeleteRows,
    Linked,
    Matches,
    Run,
    SameRecord,
    SelectRow,
    UpdateRows,
    Value,
)
from .writesteps import NOT_FOUND, now, referencing, required_relation


class Updates(Creates):
    """Updates of bound records, and the nested updates, upserts and deletes from a parent."""

    def related(self, rel: RelationField, parent: str, where: Any, path: str) -> Cond:
        """The records of `rel` of the bound parent, narrowed by `where` when given: unique criteria
        on a list relation, a filter on a to-one."""
        condition: Cond = Linked(rel, parent)
        if where is not None:
            target = self.schema.models[rel.target]
            planned = (
                unique_filter(self.schema, target, where, path)
                if rel.is_list
                else plan_where(self.schema, target, where, path)
            )
            if planned is not None:
                condition = Both(condition, Matches(planned))
        return condition

    def nested_update(self, model: Model, rel: RelationField, parent: str, item: Any, path: str) -> None:
        target = self.schema.models[rel.target]
        if rel.is_list:
            if not isinstance(item, dict) or set(item) != {"where", "data"}:
                raise fail(f"`{path}` takes where and data.", path)
            where, data = item["where"], item["data"]
        else:
            if isinstance(item, dict) and set(item) <= {"where", "data"} and "data" in item:
                where, data = item.get("where"), item["data"]
            else:
                where, data = None, item
        condition = self.related(rel, parent, where, f"{path}.where")
        found = self.name()
        cause = f"No '{target.name}' record was found for a nested update on relation '{rel.relation_name}'."
        expect = Expect(Code.RECORD_NOT_FOUND, NOT_FOUND + cause, {"cause": cause})
        self.steps.append(Run(SelectRow(target, condition, for_update=True), bind=found, expect=expect))
        self.update_record(target, found, data, f"{path}.data")

    def nested_many(self, rel: RelationField, parent: str, item: Any, path: str, *, delete: bool) -> None:
        target = self.schema.models[rel.target]
        if not isinstance(item, dict):
            raise fail(f"`{path}` must be an object.", path)
        condition: Cond = Linked(rel, parent)
        planned = plan_where(self.schema, target, item.get("where"), f"{path}.where", scalars_only=True)
        if planned is not None:
            condition = Both(condition, Matches(planned))
        self.wrote(target, deleting=delete)
        if delete:
            self.steps.append(Run(DeleteRows(target, condition), count=True))
            return
        data = self.check_data(target, item.get("data"), f"{path}.data")
        sets = self.set_clause(target, data, f"{path}.data")
        if sets:
            self.steps.append(Run(UpdateRows(target, sets, condition, where_first=True), count=True))

    def nested_delete(self, model: Model, rel: RelationField, parent: str, arg: Any, path: str) -> None:
        target = self.schema.models[rel.target]
        items: list[Any] = [None] if arg is True else (items_of(arg, path) if rel.is_list else [arg])
        if arg is False:
            return
        for where in items:
            condition = self.related(rel, parent, where, path)
            self.wrote(target, deleting=True)
            if rel.is_list:
                message = (
                    f"The records for relation `{rel.relation_name}` between the `{model.name}` and "
                    f"`{target.name}` models are not connected."
                )
            else:
                cause = f"No '{target.name}' record was found for a nested delete on relation "
                message = NOT_FOUND + cause + f"'{rel.relation_name}'."
            meta = {"relation_name": rel.relation_name, "parent_name": model.name, "child_name": target.name}
            expect = Expect(
                Code.RECORDS_NOT_CONNECTED if rel.is_list else Code.RECORD_NOT_FOUND, message, meta
            )
            self.steps.append(Run(DeleteRows(target, condition, returning="one"), expect=expect))

    def nested_upsert(self, model: Model, rel: RelationField, parent: str, item: Any, path: str) -> None:
        target = self.schema.models[rel.target]
        keys = {"where", "create", "update"} if rel.is_list else {"create", "update"}
        if (
            not isinstance(item, dict)
            or not set(item) - {"where"} == {"create", "update"}
            or not set(item) <= keys | {"where"}
        ):
            raise fail(f"`{path}` takes {', '.join(sorted(keys))}.", path)
        condition = self.related(rel, parent, item.get("where"), f"{path}.where")
        found = self.name()
        self.steps.append(Run(SelectRow(target, condition, for_update=True), bind=found))
        outer = self.steps
        self.steps = []
        self.update_record(target, found, item["update"], f"{path}.update")
        then = tuple(self.steps)
        self.steps = []
        if rel.joined().kind == "fk_here":
            created = self.create(target, item["create"], f"{path}.create")
            self.connect_existing(rel, parent, created)
        else:
            self.take_over_child(model, rel, self.child_fixed(model, rel, parent))
            created = self.create(
                target,
                item["create"],
                f"{path}.create",
                fixed=self.child_fixed(model, rel, parent),
                skip_relation=rel.back,
                requires=parent if rel.joined().kind == "fk_there" else "",
            )
            if rel.joined().kind == "m2m":
                self.join_rows(rel, parent, created)
        otherwise = tuple(self.steps)
        self.steps = outer
        self.steps.append(Branch(found, then, otherwise))

    # --- update -----------------------------------------------------------------------------------

    def set_clause(
        self,
        model: Model,
        data: dict[str, Any],
        path: str,
        fixed: dict[str, Source] | None = None,
        quiet: frozenset[str] = frozenset(),
    ) -> tuple[Assign, ...]:
        """The SET list of an update. `quiet` names fields of `fixed` that leave `@updatedAt` alone
        when nothing else changes (a disconnect's foreign key: Prisma's engine does not touch it)."""
        assigned = self.assignments(model, data, path, update=True)
        for name, source in (fixed or {}).items():
            assigned.append((model.fields[name], Value(source)))
        if assigned or any(k in model.relations for k in data):
            names = {f.name for f, _ in assigned}
            touched = any(f.name not in quiet for f, _ in assigned)
            for f in model.fields.values():
                if f.updated_at and f.name not in names and touched:
                    assigned.append((f, now(f)))
        self.written.update(referencing(self.schema, model, {f.name for f, _ in assigned}))
        return tuple(assigned)

    def update_record(
        self, model: Model, current: str, data: Any, path: str, missing: Expect | None = None
    ) -> str:
        """Steps updating the bound row `current`; returns the name of its new row. `missing` is the
        error when there is no such row, raised where Prisma's engine finds out: after the writes of
        the records it points at, before those pointing at it."""
        data = self.check_data(model, data, path)
        self.check_input(model, data, path)
        self.wrote(model)
        if missing is not None:
            self.maybe_missing[current] = (model, missing)
        fixed: dict[str, Source] = {}
        quiet: set[str] = set()
        after: list[tuple[RelationField, Any, str]] = []
        for name, ops in data.items():
            rel = model.relations.get(name)
            if rel is None:
                continue
            at = f"{path}.{name}"
            if rel.joined().kind == "fk_here":
                fixed.update(self.parent_side_update(model, rel, current, ops, at, quiet))
            after.append((rel, ops, at))
        sets = self.set_clause(model, data, path, fixed, quiet=frozenset(quiet))
        updated = current
        if sets:
            updated = self.name()
            update = UpdateRows(model, sets, SameRecord(model, current), returning="row")
            self.steps.append(Run(update, bind=updated))
            if missing is not None:
                self.maybe_missing[updated] = (model, missing)
        with self.record_writes():
            for rel, ops, at in after:
                if rel.joined().kind == "fk_here":
                    self.own_connect_or_create(ops)
                else:
                    self.nested(model, rel, updated, ops, at, creating=False)
        if missing is not None:
            self.require(updated)  # nothing else failed: the record to update was not there
        return updated

    def parent_side_update(
        self, model: Model, rel: RelationField, current: str, ops: Any, path: str, quiet: set[str]
    ) -> dict[str, Source]:
        """The foreign key `rel`'s nested writes give the record being updated; those a disconnect
        sets (to NULL) go into `quiet`, as they leave `@updatedAt` alone."""
        target = self.schema.models[rel.target]
        joined = rel.joined()
        if not isinstance(ops, dict):
            raise fail(f"`{path}` takes nested operations.", path)
        self.check_without_back(rel, ops, path)
        fixed: dict[str, Source] = {}
        for op, arg in ops.items():
            at = f"{path}.{op}"
            if op in ("create", "connect", "connectOrCreate"):
                keys = self.resolve_parent_side(model, rel, {op: arg}, path)
                self.take_over(model, rel, keys, keep=current)
                fixed.update(keys)
                quiet.difference_update(keys)
            elif op == "disconnect":
                if arg is False:
                    continue
                if any(model.fields[mine].required for mine, _ in joined.pairs):
                    raise required_relation(rel, model, target, at)
                fixed.update({mine: Const(None) for mine, _ in joined.pairs})
                quiet.update(mine for mine, _ in joined.pairs)
            elif op == "update":
                self.nested_update(model, rel, current, arg, at)
            elif op == "upsert":
                self.nested_upsert(model, rel, current, arg, at)
            elif op == "delete":
                self.nested_delete(model, rel, current, arg, at)
            else:
                raise fail(f"`{op}` is not available on a to-one relation.", at)
        return fixed
