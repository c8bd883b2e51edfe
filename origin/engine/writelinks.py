"""Planning the links between records: looking records up (`find_one`), letting a one-to-one
relation go before another record takes it over, connectOrCreate, connect and disconnect, and the
many-to-many join rows."""

from __future__ import annotations

from typing import Any

from bwcontract.codes import Code

from .arguments import fail, items_of
from .filters import plan_where, unique_filter
from .params import Bound, Source
from .program import Expect, Rebind
from .schema import Model, RelationField
from .writenodes import (
    AnyOf,
    Assign,
    Both,
    Branch,
    Cond,
    CountDiffers,
    DeleteJoinRows,
    EqualTo,
    Exists,
    InsertJoinRow,
    Linked,
    Matches,
    NoRowBinding,
    Null,
    OtherRecord,
    Run,
    SameRecord,
    SelectRow,
    UpdateRows,
    Value,
)
from .writesteps import NOT_FOUND, Mark, WriteSteps, required_relation_refused, touched_at


class Links(WriteSteps):
    """Looking records up and linking them (connect, disconnect, connectOrCreate, join rows)."""

    def find_one(
        self,
        model: Model,
        where: Any,
        path: str,
        expect: Expect | None,
    ) -> str:
        criteria = unique_filter(self.schema, model, where, path)
        self.read.add(model.name)
        bound = self.name()
        self.criteria[bound] = criteria
        self.steps.append(Run(SelectRow(model, Matches(criteria)), bind=bound, expect=expect))
        return bound

    def all_distinct(self, model: Model, lookups: list[str]) -> None:
        """Records found for a many-to-many connect must be as many as the distinct criteria named:
        two criteria for one record are P2025 (Prisma's engine counts what it found), one criteria
        named twice alike connects its record once."""
        named = tuple(self.criteria[record] for record in lookups)
        cause = "Expected as many records to be connected as were named, found fewer."
        refuse = Expect(Code.RECORD_NOT_FOUND, NOT_FOUND + cause, {"cause": cause})
        self.steps.append(Run(CountDiffers(model, tuple(lookups), named), refuse=refuse))

    def take_over(self, holder: Model, rel: RelationField, keys: dict[str, Source], keep: str = "") -> None:
        """Before a record of `holder` points its one-to-one `rel` at another (foreign key `keys`),
        the record of `holder` pointing there lets go, as Prisma's engine has it: disconnected when
        the relation is optional, and the change refused (P2014) when it is required. `keep` is the
        record taking over (it may point there already)."""
        fk = {mine for mine, _ in rel.joined().pairs}
        if not keys or not any(set(c) == fk for c in holder.unique_criteria()):
            return  # not one-to-one: many records may point at the same one
        where: Cond = EqualTo(holder, tuple(keys.items()))
        if keep:
            where = Both(where, OtherRecord(holder, keep))
        if any(holder.fields[f].required for f in fk):
            refuse = required_relation_refused(rel, holder, self.schema.models[rel.target])
            self.read.add(holder.name)
            self.steps.append(Run(Exists(holder, where, first=True), refuse=refuse))
            return
        sets = tuple((holder.fields[f], Null()) for f in fk)
        self.wrote(holder)
        self.steps.append(Run(UpdateRows(holder, sets, where), count=True))

    def take_over_child(
        self, model: Model, rel: RelationField, child_keys: dict[str, Source], keep: str = ""
    ) -> None:
        """The same from the side without the key: `rel` of `model` points at records of the target
        through the target's back relation (User.profile through Profile.user)."""
        target = self.schema.models[rel.target]
        back = target.relations.get(rel.back)
        if back is not None and not rel.is_list and rel.joined().kind == "fk_there":
            self.take_over(target, back, child_keys, keep)

    def connect_or_create(
        self,
        model: Model,
        arg: Any,
        path: str,
        *,
        fixed: dict[str, Source] | None = None,
        link_to: tuple[RelationField, str] | None = None,
    ) -> str:
        if not isinstance(arg, dict) or set(arg) != {"where", "create"}:
            raise fail(f"`{path}` takes where and create.", path)
        mark = None
        if link_to is not None and self.points_elsewhere(model, arg["create"], link_to[0].back):
            back = link_to[0].back
            mark = Mark(
                None, (self.steps, len(self.steps)), self.connects_or_creates(model, arg["create"], back)
            )
            self.mark(mark)
        found = self.find_one(model, arg["where"], f"{path}.where", None)
        outer = self.steps
        self.steps = []
        result = self.name()
        if link_to is not None:
            rel, parent = link_to
            self.connect_existing(rel, parent, found)
        self.steps.append(Rebind(result, found))
        then = tuple(self.steps)
        self.steps = []
        if link_to is not None and fixed:
            owner = self.schema.models[link_to[0].owner]
            self.take_over_child(owner, link_to[0], fixed)
        # A record that will point at the bound parent of an update needs it there before the insert
        # (Prisma's engine: P2025, nothing written), as a nested create does.
        points_at = link_to is not None and link_to[0].joined().kind == "fk_there"
        requires = link_to[1] if link_to is not None and points_at else ""
        created = self.create(model, arg["create"], f"{path}.create", fixed=fixed, requires=requires)
        if link_to is not None and link_to[0].joined().kind == "m2m":
            self.join_rows(link_to[0], link_to[1], created)
        self.steps.append(Rebind(result, created))
        otherwise = tuple(self.steps)
        self.steps = outer
        self.steps.append(Branch(found, then, otherwise))
        if mark is not None:
            mark.after = (self.steps, len(self.steps))
        return result

    def child_fixed(self, model: Model, rel: RelationField, parent: str) -> dict[str, Source]:
        joined = rel.joined()
        if joined.kind != "fk_there":
            return {}
        return {theirs: Bound(parent, model.fields[mine].column) for mine, theirs in joined.pairs}

    def join_rows(self, rel: RelationField, parent: str, child: str) -> None:
        self.require(parent)
        owner = self.schema.models[rel.owner]
        target = self.schema.models[rel.target]
        self.written.update({owner.name, target.name})
        self.steps.append(Run(InsertJoinRow(rel, parent, child), count=True))

    def connect_existing(self, rel: RelationField, parent: str, child: str) -> None:
        joined = rel.joined()
        target = self.schema.models[rel.target]
        owner = self.schema.models[rel.owner]
        if joined.kind == "m2m":
            self.join_rows(rel, parent, child)
            return
        if joined.kind == "fk_there":
            self.require(parent)
            child_keys: dict[str, Source] = {
                theirs: Bound(parent, owner.fields[mine].column) for mine, theirs in joined.pairs
            }
            self.take_over_child(owner, rel, child_keys, keep=child)
            keys: list[Assign] = [
                (target.fields[theirs], Value(Bound(parent, owner.fields[mine].column)))
                for mine, theirs in joined.pairs
            ]
            sets = (*keys, *touched_at(target))
            self.wrote(target)
            update = UpdateRows(target, sets, SameRecord(target, child), aliased=False)
            self.steps.append(Run(update, count=True))
            return
        # fk_here on an existing parent: point the parent at the child.
        pointing: list[Assign] = [
            (owner.fields[mine], Value(Bound(child, target.fields[theirs].column)))
            for mine, theirs in joined.pairs
        ]
        # A connect touches the record it points, as Prisma's engine does (a disconnect does not).
        sets = (*pointing, *touched_at(owner))
        self.wrote(owner)
        self.steps.append(Run(UpdateRows(owner, sets, SameRecord(owner, parent), aliased=False), count=True))

    def connect_by_update(self, model: Model, rel: RelationField, parent: str, where: Any, path: str) -> None:
        """Connect to a list relation whose records hold the key: point the record named by `where`
        at the parent, and fail (P2018) when there was none, as Prisma's engine does."""
        self.require(parent)
        target = self.schema.models[rel.target]
        owner = self.schema.models[rel.owner]
        pointing: list[Assign] = [
            (target.fields[theirs], Value(Bound(parent, owner.fields[mine].column)))
            for mine, theirs in rel.joined().pairs
        ]
        sets = (*pointing, *touched_at(target))
        condition = Matches(unique_filter(self.schema, target, where, path))
        message = (
            "The required connected records were not found. Expected 1 records to be connected after "
            f"connect operation on one-to-many relation '{rel.relation_name}', found 0."
        )
        expect = Expect(Code.CONNECTED_RECORDS_MISSING, message, {"details": message})
        self.wrote(target)
        update = UpdateRows(target, sets, condition, returning="one")
        self.steps.append(Run(update, bind=self.name(), expect=expect))

    def disconnect(
        self, model: Model, rel: RelationField, parent: str, arg: Any, path: str, *, everything: bool = False
    ) -> None:
        joined = rel.joined()
        target = self.schema.models[rel.target]
        if arg is False:
            return
        if joined.kind == "m2m":
            named = None
            if not everything and arg is not True:
                items = items_of(arg, path)
                if not items:
                    return  # nothing to disconnect
                named = tuple(Matches(unique_filter(self.schema, target, w, path)) for w in items)
            self.written.update({model.name, target.name})
            self.steps.append(Run(DeleteJoinRows(rel, parent, named), count=True))
            return
        if joined.kind == "fk_here":
            raise AssertionError("handled by the parent update")
        fk_fields = [target.fields[theirs] for _, theirs in joined.pairs]
        # Letting go leaves the related records' `@updatedAt` alone, as by Prisma's engine.
        sets = tuple((f, Null()) for f in fk_fields)
        where: Cond = Linked(rel, parent)
        if not everything and arg is not True and not rel.is_list:
            # A to-one disconnect takes a filter on the related record (a WhereInput, `{}` is any).
            condition = plan_where(self.schema, target, arg, path)
            if condition is not None:
                where = Both(where, Matches(condition))
        elif not everything and arg is not True:
            items = items_of(arg, path)
            # None named: FALSE, nothing to disconnect.
            conds = tuple(Matches(unique_filter(self.schema, target, w, path)) for w in items)
            where = Both(where, AnyOf(conds))
        if any(f.required for f in fk_fields):
            # The related records cannot let go of a required relation: refused (P2014) when the
            # write runs, whether any is connected or not, as by Prisma's engine.
            # Its statement still binds the filter's values, so a bad one is refused first.
            refuse = required_relation_refused(rel, target, model)
            self.steps.append(Run(NoRowBinding(target, where), refuse=refuse))
            return
        self.wrote(target)
        self.steps.append(Run(UpdateRows(target, sets, where), count=True))
