"""Planning creates: the scalar data of a record (values, atomic number updates, list pushes),
one record with the records it points at made or found first, many records in one INSERT
(createMany), and what the engine fills in for fields the data leaves out."""

from __future__ import annotations

from typing import Any

from .arguments import fail, items_of, null_marker, value_source
from .fingerprint import Slot
from .params import Bound, Const, Generated, Source
from .schema import Model, RelationField, ScalarField
from .writelinks import Links
from .writenodes import ATOMIC_OPS, Assign, Atomic, InsertMany, InsertRow, Push, Run, SetValue, Value
from .writesteps import connect_expect

_SCALAR_OPS = frozenset({"set", *ATOMIC_OPS, "push", "unset"})


class Creates(Links):
    """Scalar data and creates: one record with its nested writes, or many in one INSERT."""

    # --- scalar data ------------------------------------------------------------------------------

    def scalar_value(self, model: Model, f: ScalarField, value: Any, path: str) -> Source:
        marker = null_marker(value)
        if marker:
            if f.type != "Json" or f.is_list:
                raise fail(f"`{marker}` only applies to Json fields.", path)
            return Const("null" if marker == "JsonNull" else None)
        if value is None:
            if f.required:
                raise fail(f"Argument `{f.name}` must not be null.", path)
            return Const(None)
        return value_source(self.schema, f, value, path)

    def assignments(self, model: Model, data: dict[str, Any], path: str, *, update: bool) -> list[Assign]:
        """(field, value) for the scalar fields in `data`."""
        out: list[Assign] = []
        for name, value in data.items():
            f = model.fields.get(name)
            if f is None:
                continue
            at = f"{path}.{name}"
            is_ops = (
                isinstance(value, dict)
                and value
                and set(value) <= _SCALAR_OPS
                and not ("$type" in value and len(value) == 2)
                and (f.type != "Json" or f.is_list)
            )
            if not is_ops:
                out.append((f, Value(self.scalar_value(model, f, value, at))))
                continue
            if len(value) != 1:
                raise fail(f"`{at}` takes exactly one operation.", at)
            op, operand = next(iter(value.items()))
            if op == "set":
                out.append((f, Value(self.scalar_value(model, f, operand, f"{at}.set"))))
            elif op in ATOMIC_OPS:
                if not update:
                    raise fail(f"`{op}` is only available in updates.", at)
                if f.type not in ("Int", "BigInt", "Float", "Decimal") or f.is_list:
                    raise fail(f"`{op}` needs a number field; {f.name} is {f.type}.", at)
                out.append((f, Atomic(op, value_source(self.schema, f, operand, at))))
            elif op == "push":
                if not f.is_list or not update:
                    raise fail("`push` applies to list fields in updates.", at)
                # A Json list takes one Json value per push (which may itself be an array).
                element = f.type == "Json" or (
                    not isinstance(operand, list) and not (isinstance(operand, Slot) and operand.kind == "l")
                )
                src = value_source(self.schema, f, operand, at, element=element)
                out.append((f, Push(src, element)))
            else:
                raise fail(f"`{op}` is not available here.", at)
        return out

    # --- create -----------------------------------------------------------------------------------

    def create(
        self,
        model: Model,
        data: Any,
        path: str,
        *,
        fixed: dict[str, Source] | None = None,
        skip_relation: str = "",
        requires: str = "",
    ) -> str:
        """Steps inserting one record (and its nested writes); returns the name its row is bound to.
        `requires` is the bound parent it will point at, checked just before the insert."""
        data = self.check_data(model, data, path)
        self.check_input(model, data, path, skip_relation)
        self.wrote(model)
        fixed = dict(fixed or {})
        relations = {k: v for k, v in data.items() if k in model.relations and k != skip_relation}
        # Records this one points at come first: their keys fill its foreign-key columns. Prisma's
        # engine makes the ones it creates first, the last named first, then looks up the ones it
        # connects, in the order given (which decides the error when several would fail).
        held = [(n, ops) for n, ops in relations.items() if model.relations[n].joined().kind == "fk_here"]
        made = [
            (n, ops) for n, ops in reversed(held) if not (isinstance(ops, dict) and set(ops) == {"connect"})
        ]
        found = [(n, ops) for n, ops in held if isinstance(ops, dict) and set(ops) == {"connect"}]
        for name, ops in [*made, *found]:
            rel = model.relations[name]
            keys = self.resolve_parent_side(model, rel, ops, f"{path}.{name}", nested=bool(skip_relation))
            self.take_over(model, rel, keys)
            fixed.update(keys)
        # A one-to-one record to connect is looked up before the insert, as Prisma's engine does
        # (it must know whether that record is taken); lists connect after it.
        connects: dict[str, list[str]] = {}
        for name, ops in relations.items():
            rel = model.relations[name]
            if (
                rel.joined().kind == "fk_there"
                and not rel.is_list
                and isinstance(ops, dict)
                and "connect" in ops
            ):
                at = f"{path}.{name}.connect"
                target = self.schema.models[rel.target]
                items = items_of(ops["connect"], at) if rel.is_list else [ops["connect"]]
                connects[name] = [
                    self.find_one(target, item, at, connect_expect(model, rel, target)) for item in items
                ]
        assigned = self.assignments(model, data, path, update=False)
        names = {f.name for f, _ in assigned}
        for fname, source in fixed.items():
            if fname in names:
                raise fail(f"`{fname}` is set both directly and through a relation.", f"{path}.{fname}")
            assigned.append((model.fields[fname], Value(source)))
            names.add(fname)
        for f in model.fields.values():
            if f.name in names:
                continue
            generated = default_source(f)
            if generated is not None:
                assigned.append((f, Value(generated)))
            elif f.required and not f.has_default and not f.is_list:
                raise fail(
                    f"Argument `{f.name}` is missing in `{path}` (model {model.name}).",
                    f"{path}.{f.name}",
                    modelName=model.name,
                )
        if requires:
            self.require(requires)
        bound = self.name()
        self.steps.append(Run(InsertRow(model, tuple(assigned)), bind=bound))
        with self.record_writes():
            for name, ops in relations.items():
                rel = model.relations[name]
                if rel.joined().kind != "fk_here":
                    at = f"{path}.{name}"
                    self.nested(model, rel, bound, ops, at, creating=True, found=connects.get(name))
                else:
                    self.own_connect_or_create(ops)
        return bound

    def resolve_parent_side(
        self, model: Model, rel: RelationField, ops: Any, path: str, *, nested: bool = False
    ) -> dict[str, Source]:
        """Nested ops on a relation whose foreign key this model holds, before its row is written:
        the referenced record is found or created, and its key fills this model's columns."""
        self.check_without_back(rel, ops, path)
        target = self.schema.models[rel.target]
        if not isinstance(ops, dict):
            raise fail(f"`{path}` takes create, connect or connectOrCreate.", path)
        if not ops:
            # Nothing to write through the relation: its key stays empty (Postgres refuses a
            # required one: P2011), as with Prisma's engine.
            return {mine: Const(None) for mine, _ in rel.joined().pairs}
        found = ""
        for op, arg in ops.items():
            at = f"{path}.{op}"
            if op == "create":
                found = self.create(target, arg, at)
            elif op == "connect":
                inline = self.inline_connect(rel, target, arg, at) if nested else None
                if inline is not None:
                    return inline
                found = self.find_one(target, arg, at, connect_expect(model, rel, target))
            elif op == "connectOrCreate":
                found = self.connect_or_create(target, arg, at)
            elif op in ("disconnect", "delete", "update", "upsert"):
                raise fail(f"`{op}` is not available when creating (`{at}`).", at)
            else:
                raise fail(f"Unknown nested operation `{op}`.", at)
        if not found:
            raise fail(f"`{path}` needs create, connect or connectOrCreate.", path)
        joined = rel.joined()
        return {mine: Bound(found, target.fields[theirs].column) for mine, theirs in joined.pairs}

    def inline_connect(
        self, rel: RelationField, target: Model, where: Any, path: str
    ) -> dict[str, Source] | None:
        """Inside a nested create, a connect naming exactly the referenced key (and the relation not
        one-to-one) is not looked up: the key is written as given, as Prisma's engine does (a
        missing record then fails the foreign key, P2003)."""
        pairs = rel.joined().pairs
        referenced = tuple(theirs for _, theirs in pairs)
        fk = {mine for mine, _ in pairs}
        owner = self.schema.models[rel.owner]
        if (
            any(set(c) == fk for c in owner.unique_criteria())
            or not isinstance(where, dict)
            or len(where) != 1
        ):
            return None
        ((key, value),) = where.items()
        if (
            len(referenced) == 1
            and key == referenced[0]
            and not isinstance(value, list | bool)
            and value is not None
        ):
            if isinstance(value, dict) and set(value) != {"$type", "value"}:
                return None
            values = {referenced[0]: value}
        elif len(referenced) > 1 and isinstance(value, dict) and set(value) == set(referenced):
            compound = next((u for u in target.unique_keys() if u.name == key), None)
            if compound is None or set(compound.fields) != set(referenced):
                return None
            values = value
        else:
            return None
        return {
            mine: value_source(self.schema, target.fields[theirs], values[theirs], f"{path}.{theirs}")
            for mine, theirs in pairs
        }

    # --- many ---------------------------------------------------------------------------------------

    def create_many(
        self,
        model: Model,
        data: Any,
        path: str,
        skip_duplicates: bool,
        *,
        fixed: dict[str, Source] | None = None,
        returning: bool = False,
    ) -> Run:
        rows = items_of(data, path)
        self.wrote(model)
        fixed = fixed or {}
        columns: list[ScalarField] = []
        per_row: list[tuple[tuple[str, SetValue], ...]] = []
        for i, row in enumerate(rows):
            at = f"{path}.{i}"
            row = self.check_data(model, row, at)
            for name in row:
                if name in model.relations:
                    raise fail("`createMany` does not take nested relations.", f"{at}.{name}")
            # In order, a name set twice too (the later value wins, in the earlier place).
            assigned = [(f.name, v) for f, v in self.assignments(model, row, at, update=False)]
            assigned += [(name, Value(source)) for name, source in fixed.items()]
            names = {name for name, _ in assigned}
            for f in model.fields.values():
                if f.name not in names:
                    generated = default_source(f)
                    if generated is not None:
                        assigned.append((f.name, Value(generated)))
                    elif f.required and not f.has_default and not f.is_list:
                        raise fail(f"Argument `{f.name}` is missing in `{at}`.", f"{at}.{f.name}")
            per_row.append(tuple(assigned))
            for name, _ in assigned:
                if model.fields[name] not in columns:
                    columns.append(model.fields[name])
        insert = InsertMany(model, tuple(columns), tuple(per_row), skip_duplicates, returning)
        statement = Run(insert, count=not returning)
        if not returning:
            self.steps.append(statement)
        return statement


def default_source(f: ScalarField) -> Source | None:
    """What the engine fills in for a field the data leaves out (Postgres fills autoincrement/dbgenerated)."""
    native = (f.native_type or "").lower()
    if f.updated_at:
        return Generated("now", native)
    d = f.default
    if d is None or d.in_database:
        return None
    if d.kind == "now":
        return Generated("now", native)
    if d.kind in ("uuid", "cuid", "nanoid", "ulid"):
        return Generated(d.kind, version=d.version)
    return None
