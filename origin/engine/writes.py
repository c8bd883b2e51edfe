"""Write operations → programs of statements (see `program`).

A write without nested writes is one statement: the INSERT/UPDATE/DELETE runs in a CTE and the
selection is read from its RETURNING rows. Nested writes run in dependency order: records the new
row points at first (their keys fill its foreign keys), then the row, then records pointing at it
(and implicit many-to-many join rows); the selection is read back last by the row's identity.

This module plans: which statements run, in which order, with which values and which Prisma error
when one finds nothing. Their SQL text is `writesql`'s. It is one module (over 400 lines) because
it is one `WriteCompiler` whose nested operations call each other recursively (a create's nested
connectOrCreate creates, whose nested writes connect, …) over the same list of steps.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from bwcontract.codes import Code

from . import writesql
from .arguments import fail, items_of, null_marker, value_source
from .filters import plan_where, unique_filter
from .fingerprint import Slot
from .nodes import All, Compare, Filter, Op, ReadPlan
from .params import Bound, Const, DistinctCount, Generated, Source
from .program import Branch, Expect, Rebind, Statement, Step
from .reads import plan_selection
from .schema import Model, RelationField, ScalarField, Schema
from .sql import Builder, render_filter, render_read

_SCALAR_OPS = frozenset({"set", *writesql.ATOMIC, "push", "unset"})
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

NOT_FOUND = "An operation failed because it depends on one or more records that were required but not found. "


Position = tuple[list[Step], int]  # a place in a list of steps


@dataclass(eq=False)
class _Mark:
    """A record of a nested write that Prisma's engine swaps with the lookup it waits for (see
    `WriteCompiler.record_writes`): a nested create put off to the end of its record's nested
    writes (`make`), or the create of a nested `connectOrCreate` (no `make`: it is made in place).
    `start` is where its nested `create` (or the `connectOrCreate`) began, `after` where the
    `connectOrCreate` ended; `returns` whether it writes a to-one relation of its own with
    `connectOrCreate`. Not `swapped`: the record's own to-one `connectOrCreate`, only where it
    comes among the record's nested writes (its swap adds no edge that counts here)."""

    make: Callable[[], None] | None
    start: Position
    returns: bool
    after: Position | None = None
    swapped: bool = True


@dataclass
class WriteCompiler:
    schema: Schema
    steps: list[Step] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)
    # Bound records an update may not have found, and the error when something must link to them.
    maybe_missing: dict[str, tuple[Model, Expect]] = field(default_factory=dict)
    # The criteria each bound record was looked up by: its filter's SQL and value sources.
    criteria: dict[str, tuple[str, tuple[Source, ...]]] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)
    # Per record being written: its marked nested writes, nested creates put off among them.
    _marks: list[list[_Mark]] = field(default_factory=list)
    _first_mark: _Mark | None = None

    def name(self) -> str:
        return f"r{next(self._names)}"

    @contextlib.contextmanager
    def record_writes(self) -> Iterator[None]:
        """The nested writes of one record, made in the order of Prisma's engine, so rows get the
        same generated ids and the same write fails first. Its query graph has an edge from the
        record to each nested write, run in the order the edges were made; a nested create that
        points at other records itself (a `connect` / `create` / `connectOrCreate` of its own to-one
        relations) is swapped with the lookup it waits for when the graph is finalized, which adds
        an edge to that lookup at the end: so those are made after every other nested write of
        the record, the last such first.

        Edges are kept in an array, and removing one moves the last edge into its slot; two such
        removals move one of those put-off creates forward:
        - swapping the create of a nested `connectOrCreate` that points at other records (its edge
          from the branch is re-made): the create swapped just before it moves to right after the
          `connectOrCreate`;
        - a `connectOrCreate` of a to-one relation adds return nodes, whose incoming edges are
          re-made after all swaps: the create swapped last (the operation's first marked write)
          moves to where the first such `connectOrCreate` was compiled."""
        self._marks.append([])
        yield
        marks = self._marks.pop()
        moves: list[tuple[int, int, _Mark, list[Step]]] = []  # (position, then, create, steps)
        last: _Mark | None = None
        for mark in reversed(marks):  # the order the engine swaps them in
            if not mark.swapped:
                continue
            if mark.make is None:
                if last is not None and mark.after is not None:
                    moves.append((mark.after[1], 0, last, mark.after[0]))
                last = None
            else:
                last = mark
        returns = next((m for m in marks if m.returns), None)
        if last is not None and last is self._first_mark and returns is not None:
            moves.append((returns.start[1], 1, last, returns.start[0]))
        moved = [move[2] for move in moves]
        # From the last place to the first, so earlier places keep their index; at one place the
        # one made later goes in first.
        for at, _then, mark, steps in sorted(moves, key=lambda m: (-m[0], -m[1])):
            assert mark.make is not None
            outer, self.steps = self.steps, []
            mark.make()
            steps[at:at] = self.steps
            self.steps = outer
        for mark in reversed(marks):
            if mark.make is not None and not any(mark is m for m in moved):
                mark.make()

    def mark(self, mark: _Mark) -> None:
        """Note a marked nested write of the record being written (`record_writes`); a put-off create
        outside of one is made at once."""
        if not self._marks:
            if mark.make is not None:
                mark.make()
            return
        self._marks[-1].append(mark)
        if self._first_mark is None and mark.swapped:
            self._first_mark = mark

    def own_connect_or_create(self, ops: Any) -> None:
        """Note where the record's own to-one `connectOrCreate` comes among its nested writes."""
        if isinstance(ops, dict) and "connectOrCreate" in ops:
            self.mark(_Mark(None, (self.steps, len(self.steps)), returns=True, swapped=False))

    def statement(self, b: Builder, sql: str, **kwargs: Any) -> Statement:
        return Statement(sql, tuple(b.sources), **kwargs)

    def builder(self) -> Builder:
        return Builder(self.schema)

    def wrote(self, model: Model, *, deleting: bool = False) -> None:
        self.written.add(model.name)
        if deleting:
            self.written.update(cascades(self.schema, model))

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

    def assignments(
        self, b: Builder, model: Model, data: dict[str, Any], path: str, *, update: bool, alias: str = ""
    ) -> list[tuple[ScalarField, str]]:
        """(field, SQL expression) for the scalar fields in `data`."""
        out: list[tuple[ScalarField, str]] = []
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
                out.append((f, b.param(self.scalar_value(model, f, value, at))))
                continue
            if len(value) != 1:
                raise fail(f"`{at}` takes exactly one operation.", at)
            op, operand = next(iter(value.items()))
            if op == "set":
                out.append((f, b.param(self.scalar_value(model, f, operand, f"{at}.set"))))
            elif op in writesql.ATOMIC:
                if not update:
                    raise fail(f"`{op}` is only available in updates.", at)
                if f.type not in ("Int", "BigInt", "Float", "Decimal") or f.is_list:
                    raise fail(f"`{op}` needs a number field; {f.name} is {f.type}.", at)
                out.append((f, writesql.atomic(b, alias, f, op, value_source(self.schema, f, operand, at))))
            elif op == "push":
                if not f.is_list or not update:
                    raise fail("`push` applies to list fields in updates.", at)
                # A Json list takes one Json value per push (which may itself be an array).
                element = f.type == "Json" or (
                    not isinstance(operand, list) and not (isinstance(operand, Slot) and operand.kind == "l")
                )
                src = value_source(self.schema, f, operand, at, element=element)
                out.append((f, writesql.push(b, alias, f, src, element=element)))
            else:
                raise fail(f"`{op}` is not available here.", at)
        return out

    # --- create -----------------------------------------------------------------------------------

    def input_kind(self, model: Model, data: Any, without: str = "") -> str:
        """Which of Prisma's two input types `data` uses: "through" relations that hold foreign keys
        (`author: {connect}`), "direct" (the keys and generated ids set as values), or "either"."""
        if not isinstance(data, dict):
            return "either"
        held = {n for n, r in model.relations.items() if r.joined().kind == "fk_here" and n != without}
        direct = {f for n in held for f in model.relations[n].fields} | {
            f.name
            for f in model.fields.values()
            if f.default is not None and f.default.kind == "autoincrement"
        }
        through = [k for k in data if k in held]
        scalars = [k for k in data if k in direct]
        if through and scalars:
            return f"both:{scalars[0]}:{through[0]}"
        return "through" if through else "direct" if scalars else "either"

    def check_input(self, model: Model, data: Any, path: str, without: str = "") -> None:
        kind = self.input_kind(model, data, without)
        if kind.startswith("both:"):
            _, scalar, relation = kind.split(":")
            raise fail(
                f"Unknown argument `{scalar}`: with `{relation}` written through its relation, "
                f"`{scalar}` cannot be set directly.",
                f"{path}.{scalar}",
            )

    def check_data(self, model: Model, data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise fail(f"`{path}` must be an object.", path)
        for name in data:
            if name not in model.fields and name not in model.relations:
                raise fail(
                    f"Unknown argument `{name}` in `{path}` of model {model.name}. "
                    f"Available: {', '.join([*model.fields, *model.relations])}.",
                    f"{path}.{name}",
                    modelName=model.name,
                )
        return data

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
        b = self.builder()
        assigned = self.assignments(b, model, data, path, update=False)
        names = {f.name for f, _ in assigned}
        for fname, source in fixed.items():
            if fname in names:
                raise fail(f"`{fname}` is set both directly and through a relation.", f"{path}.{fname}")
            assigned.append((model.fields[fname], b.param(source)))
            names.add(fname)
        for f in model.fields.values():
            if f.name in names:
                continue
            generated = default_source(f)
            if generated is not None:
                assigned.append((f, b.param(generated)))
            elif f.required and not f.has_default and not f.is_list:
                raise fail(
                    f"Argument `{f.name}` is missing in `{path}` (model {model.name}).",
                    f"{path}.{f.name}",
                    modelName=model.name,
                )
        sql = writesql.insert(model, assigned)
        if requires:
            self.require(requires)
        bound = self.name()
        self.steps.append(self.statement(b, sql, bind=bound))
        with self.record_writes():
            for name, ops in relations.items():
                rel = model.relations[name]
                if rel.joined().kind != "fk_here":
                    at = f"{path}.{name}"
                    self.nested(model, rel, bound, ops, at, creating=True, found=connects.get(name))
                else:
                    self.own_connect_or_create(ops)
        return bound

    def check_without_back(self, rel: RelationField, ops: Any, path: str) -> None:
        """The data of nested writes through `rel` cannot name the way back: Prisma's input types
        for them (`PostCreateWithoutAuthorInput`, …) leave out the back relation and the foreign
        key fields it sets, so naming one is an unknown argument."""
        if not isinstance(ops, dict) or not rel.back:
            return
        target = self.schema.models[rel.target]
        back = target.relations.get(rel.back)
        if back is None:
            return
        banned = {back.name}
        if back.joined().kind == "fk_here":
            banned |= {mine for mine, _ in back.joined().pairs}

        def check(data: Any, at: str) -> None:
            for key in data if isinstance(data, dict) else ():
                if key in banned:
                    message = f"Unknown argument `{key}`. Available options are marked with ?."
                    raise fail(message, f"{at}.{key}")

        for op, arg in ops.items():
            at = f"{path}.{op}"
            items = arg if isinstance(arg, list) else [arg]
            for item in items:
                if not isinstance(item, dict):
                    continue
                if op == "create":
                    check(item, at)
                elif op == "createMany":
                    rows = item.get("data")
                    for row in rows if isinstance(rows, list) else [rows]:
                        check(row, f"{at}.data")
                elif op == "connectOrCreate":
                    check(item.get("create"), f"{at}.create")
                elif op == "upsert":
                    check(item.get("create"), f"{at}.create")
                    check(item.get("update"), f"{at}.update")
                elif op in ("update", "updateMany"):
                    wrapped = rel.is_list or ("data" in item and set(item) <= {"where", "data"})
                    check(item.get("data") if wrapped else item, f"{at}.data" if wrapped else at)

    def points_elsewhere(self, model: Model, data: Any, back: str) -> bool:
        """Whether nested create `data` writes a to-one relation of its own (other than `back`)."""
        return isinstance(data, dict) and any(
            k != back and k in model.relations and model.relations[k].joined().kind == "fk_here" for k in data
        )

    def connects_or_creates(self, model: Model, data: Any, back: str) -> bool:
        """Whether nested create `data` writes a to-one relation of its own with `connectOrCreate`."""
        return any(
            k != back
            and k in model.relations
            and model.relations[k].joined().kind == "fk_here"
            and isinstance(ops, dict)
            and "connectOrCreate" in ops
            for k, ops in data.items()
        )

    def require(self, bound: str) -> None:
        """Before a record is linked to the bound record of an update that may not exist: it must
        (Prisma's engine fails such a nested write with P2025, other nested writes run regardless)."""
        found = self.maybe_missing.get(bound)
        if found is None:
            return
        model, expect = found
        b = self.builder()
        sql = writesql.exists(model, writesql.same_record(b, model, bound))
        self.steps.append(self.statement(b, sql, bind=self.name(), expect=expect))

    def take_over(self, holder: Model, rel: RelationField, keys: dict[str, Source], keep: str = "") -> None:
        """Before a record of `holder` points its one-to-one `rel` at another (foreign key `keys`),
        the record of `holder` pointing there lets go, as Prisma's engine has it: disconnected when
        the relation is optional, and the change refused (P2014) when it is required. `keep` is the
        record taking over (it may point there already)."""
        fk = {mine for mine, _ in rel.joined().pairs}
        if not keys or not any(set(c) == fk for c in holder.unique_criteria()):
            return  # not one-to-one: many records may point at the same one
        b = self.builder()
        where = writesql.equal_to(b, holder, keys)
        if keep:
            where = writesql.both(where, f"({writesql.other_record(b, holder, keep)})")
        if any(holder.fields[f].required for f in fk):
            other = self.schema.models[rel.target]
            message = (
                f"The change you are trying to make would violate the required relation "
                f"'{rel.relation_name}' between the `{holder.name}` and `{other.name}` models."
            )
            meta = {
                "relation_name": rel.relation_name,
                "model_a_name": holder.name,
                "model_b_name": other.name,
            }
            refuse = Expect(Code.REQUIRED_RELATION, message, meta)
            self.read.add(holder.name)
            self.steps.append(self.statement(b, writesql.exists(holder, where, first=True), refuse=refuse))
            return
        sets = ", ".join(writesql.to_null([holder.fields[f] for f in fk]))
        self.wrote(holder)
        self.steps.append(self.statement(b, writesql.update(holder, sets, where), count=True))

    def take_over_child(
        self, model: Model, rel: RelationField, child_keys: dict[str, Source], keep: str = ""
    ) -> None:
        """The same from the side without the key: `rel` of `model` points at records of the target
        through the target's back relation (User.profile through Profile.user)."""
        target = self.schema.models[rel.target]
        back = target.relations.get(rel.back)
        if back is not None and not rel.is_list and rel.joined().kind == "fk_there":
            self.take_over(target, back, child_keys, keep)

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

    def find_one(
        self,
        model: Model,
        where: Any,
        path: str,
        expect: Expect | None,
    ) -> str:
        b = self.builder()
        condition = render_filter(b, unique_filter(self.schema, model, where, path), "t")
        self.read.add(model.name)
        bound = self.name()
        sql = writesql.select_row(model, condition)
        self.criteria[bound] = (condition, tuple(b.sources))
        self.steps.append(self.statement(b, sql, bind=bound, expect=expect))
        return bound

    def all_distinct(self, model: Model, lookups: list[str]) -> None:
        """Records found for a many-to-many connect must be as many as the distinct criteria named:
        two criteria for one record are P2025 (Prisma's engine counts what it found), one criteria
        named twice alike connects its record once."""
        b = self.builder()
        named = DistinctCount(tuple(self.criteria[record] for record in lookups))
        sql = writesql.count_differs(b, model, lookups, named)
        cause = "Expected as many records to be connected as were named, found fewer."
        refuse = Expect(Code.RECORD_NOT_FOUND, NOT_FOUND + cause, {"cause": cause})
        self.steps.append(self.statement(b, sql, refuse=refuse))

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
            mark = _Mark(
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
                        self.mark(_Mark(make, start, self.connects_or_creates(target, item, rel.back)))
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

    def child_fixed(self, model: Model, rel: RelationField, parent: str) -> dict[str, Source]:
        joined = rel.joined()
        if joined.kind != "fk_there":
            return {}
        return {theirs: Bound(parent, model.fields[mine].column) for mine, theirs in joined.pairs}

    def linked(self, b: Builder, rel: RelationField, parent: str, alias: str) -> str:
        return writesql.linked(b, self.schema, rel, parent, alias)

    def join_rows(self, rel: RelationField, parent: str, child: str) -> None:
        self.require(parent)
        owner = self.schema.models[rel.owner]
        target = self.schema.models[rel.target]
        b = self.builder()
        sql = writesql.insert_join_row(b, self.schema, rel, parent, child)
        self.written.update({owner.name, target.name})
        self.steps.append(self.statement(b, sql, count=True))

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
            b = self.builder()
            keys = [
                (target.fields[theirs], Bound(parent, owner.fields[mine].column))
                for mine, theirs in joined.pairs
            ]
            sets = ", ".join(writesql.set_to(b, keys) + writesql.touched_at(b, target))
            where = writesql.same_record(b, target, child, alias="")
            self.wrote(target)
            self.steps.append(
                self.statement(b, writesql.update(target, sets, where, aliased=False), count=True)
            )
            return
        # fk_here on an existing parent: point the parent at the child.
        b = self.builder()
        pointing = [
            (owner.fields[mine], Bound(child, target.fields[theirs].column)) for mine, theirs in joined.pairs
        ]
        # A connect touches the record it points, as Prisma's engine does (a disconnect does not).
        sets = ", ".join(writesql.set_to(b, pointing) + writesql.touched_at(b, owner))
        where = writesql.same_record(b, owner, parent, alias="")
        self.wrote(owner)
        self.steps.append(self.statement(b, writesql.update(owner, sets, where, aliased=False), count=True))

    def connect_by_update(self, model: Model, rel: RelationField, parent: str, where: Any, path: str) -> None:
        """Connect to a list relation whose records hold the key: point the record named by `where`
        at the parent, and fail (P2018) when there was none, as Prisma's engine does."""
        self.require(parent)
        target = self.schema.models[rel.target]
        b = self.builder()
        owner = self.schema.models[rel.owner]
        pointing = [
            (target.fields[theirs], Bound(parent, owner.fields[mine].column))
            for mine, theirs in rel.joined().pairs
        ]
        sets = ", ".join(writesql.set_to(b, pointing) + writesql.touched_at(b, target))
        condition = render_filter(b, unique_filter(self.schema, target, where, path), "t")
        message = (
            "The required connected records were not found. Expected 1 records to be connected after "
            f"connect operation on one-to-many relation '{rel.relation_name}', found 0."
        )
        expect = Expect(Code.CONNECTED_RECORDS_MISSING, message, {"details": message})
        self.wrote(target)
        sql = writesql.update(target, sets, condition, returning="one")
        self.steps.append(self.statement(b, sql, bind=self.name(), expect=expect))

    def disconnect(
        self, model: Model, rel: RelationField, parent: str, arg: Any, path: str, *, everything: bool = False
    ) -> None:
        joined = rel.joined()
        target = self.schema.models[rel.target]
        if arg is False:
            return
        if joined.kind == "m2m":
            b = self.builder()
            named = None
            if not everything and arg is not True:
                items = items_of(arg, path)
                if not items:
                    return  # nothing to disconnect

                def named() -> list[str]:
                    return [render_filter(b, unique_filter(self.schema, target, w, path), "t") for w in items]

            sql = writesql.delete_join_rows(b, self.schema, rel, parent, named)
            self.written.update({model.name, target.name})
            self.steps.append(self.statement(b, sql, count=True))
            return
        if joined.kind == "fk_here":
            raise AssertionError("handled by the parent update")
        fk_fields = [target.fields[theirs] for _, theirs in joined.pairs]
        b = self.builder()
        # Prisma's engine leaves `@updatedAt` alone on the records a disconnect lets go of.
        sets = ", ".join(writesql.to_null(fk_fields))
        where = self.linked(b, rel, parent, "t")
        if not everything and arg is not True and not rel.is_list:
            # A to-one disconnect takes a filter on the related record (a WhereInput, `{}` is any).
            condition = plan_where(self.schema, target, arg, path)
            if condition is not None:
                where = writesql.both(where, render_filter(b, condition, "t"))
        elif not everything and arg is not True:
            items = items_of(arg, path)
            # None named: FALSE, nothing to disconnect.
            conds = [render_filter(b, unique_filter(self.schema, target, w, path), "t") for w in items]
            where = writesql.both(where, writesql.any_of(conds))
        if any(f.required for f in fk_fields):
            # The related records cannot let go of a required relation: refused (P2014) when the
            # write runs, whether any is connected or not, as by Prisma's engine.
            message = (
                f"The change you are trying to make would violate the required relation "
                f"'{rel.relation_name}' between the `{target.name}` and `{model.name}` models."
            )
            meta = {
                "relation_name": rel.relation_name,
                "model_a_name": target.name,
                "model_b_name": model.name,
            }
            # Its statement still binds the filter's values, so a bad one is refused first.
            sql = writesql.no_row_binding(target, where)
            self.steps.append(self.statement(b, sql, refuse=Expect(Code.REQUIRED_RELATION, message, meta)))
            return
        self.wrote(target)
        self.steps.append(self.statement(b, writesql.update(target, sets, where), count=True))

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
        b = self.builder()
        condition = self.linked(b, rel, parent, "t")
        if where is not None:
            planned = (
                unique_filter(self.schema, target, where, f"{path}.where")
                if rel.is_list
                else plan_where(self.schema, target, where, f"{path}.where")
            )
            if planned is not None:
                condition = writesql.both(condition, render_filter(b, planned, "t"))
        found = self.name()
        cause = f"No '{target.name}' record was found for a nested update on relation '{rel.relation_name}'."
        expect = Expect(Code.RECORD_NOT_FOUND, NOT_FOUND + cause, {"cause": cause})
        sql = writesql.select_row(target, condition, for_update=True)
        self.steps.append(self.statement(b, sql, bind=found, expect=expect))
        self.update_record(target, found, data, f"{path}.data")

    def nested_many(self, rel: RelationField, parent: str, item: Any, path: str, *, delete: bool) -> None:
        target = self.schema.models[rel.target]
        if not isinstance(item, dict):
            raise fail(f"`{path}` must be an object.", path)
        b = self.builder()
        condition = self.linked(b, rel, parent, "t")
        planned = plan_where(self.schema, target, item.get("where"), f"{path}.where", scalars_only=True)
        if planned is not None:
            condition = writesql.both(condition, render_filter(b, planned, "t"))
        self.wrote(target, deleting=delete)
        if delete:
            sql = writesql.delete(target, condition)
        else:
            data = self.check_data(target, item.get("data"), f"{path}.data")
            sets = self.set_clause(b, target, data, f"{path}.data")
            if not sets:
                return
            sql = writesql.update(target, sets, condition)
        self.steps.append(self.statement(b, sql, count=True))

    def nested_delete(self, model: Model, rel: RelationField, parent: str, arg: Any, path: str) -> None:
        target = self.schema.models[rel.target]
        items: list[Any] = [None] if arg is True else (items_of(arg, path) if rel.is_list else [arg])
        if arg is False:
            return
        for where in items:
            b = self.builder()
            condition = self.linked(b, rel, parent, "t")
            if where is not None:
                planned = (
                    unique_filter(self.schema, target, where, path)
                    if rel.is_list
                    else plan_where(self.schema, target, where, path)
                )
                if planned is not None:
                    condition = writesql.both(condition, render_filter(b, planned, "t"))
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
            sql = writesql.delete(target, condition, returning="one")
            self.steps.append(self.statement(b, sql, expect=expect))

    def nested_upsert(self, model: Model, rel: RelationField, parent: str, item: Any, path: str) -> None:
        target = self.schema.models[rel.target]
        keys = {"where", "create", "update"} if rel.is_list else {"create", "update"}
        if (
            not isinstance(item, dict)
            or not set(item) - {"where"} == {"create", "update"}
            or not set(item) <= keys | {"where"}
        ):
            raise fail(f"`{path}` takes {', '.join(sorted(keys))}.", path)
        b = self.builder()
        condition = self.linked(b, rel, parent, "t")
        if item.get("where") is not None:
            planned = (
                unique_filter(self.schema, target, item["where"], f"{path}.where")
                if rel.is_list
                else plan_where(self.schema, target, item["where"], f"{path}.where")
            )
            if planned is not None:
                condition = writesql.both(condition, render_filter(b, planned, "t"))
        found = self.name()
        sql = writesql.select_row(target, condition, for_update=True)
        self.steps.append(self.statement(b, sql, bind=found))
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
        b: Builder,
        model: Model,
        data: dict[str, Any],
        path: str,
        fixed: dict[str, Source] | None = None,
        alias: str = "t",
        quiet: Collection[str] = (),
    ) -> str:
        """`quiet` names the fixed keys that alone leave `@updatedAt` as it was (a disconnect's)."""
        assigned = self.assignments(b, model, data, path, update=True, alias=alias)
        for name, source in (fixed or {}).items():
            assigned.append((model.fields[name], b.param(source)))
        touching = any(f.name not in quiet for f, _ in assigned)
        if assigned or any(k in model.relations for k in data):
            names = {f.name for f, _ in assigned}
            for f in model.fields.values():
                if f.updated_at and f.name not in names and touching:
                    assigned.append((f, b.param(Generated("now", (f.native_type or "").lower()))))
        self.written.update(referencing(self.schema, model, {f.name for f, _ in assigned}))
        return writesql.assignments(assigned)

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
                keys = self.parent_side_update(model, rel, current, ops, at)
                fixed.update(keys)
                if not {"create", "connect", "connectOrCreate"} & set(ops):
                    quiet.update(keys)  # a disconnect: Prisma's engine leaves `@updatedAt` alone
            after.append((rel, ops, at))
        b = self.builder()
        sets = self.set_clause(b, model, data, path, fixed, quiet=quiet)
        updated = current
        if sets:
            where = writesql.same_record(b, model, current)
            updated = self.name()
            sql = writesql.update(model, sets, where, returning="row")
            self.steps.append(self.statement(b, sql, bind=updated))
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
        self, model: Model, rel: RelationField, current: str, ops: Any, path: str
    ) -> dict[str, Source]:
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
            elif op == "disconnect":
                if arg is False:
                    continue
                if any(model.fields[mine].required for mine, _ in joined.pairs):
                    raise _required_relation(rel, model, target, at)
                fixed.update({mine: Const(None) for mine, _ in joined.pairs})
            elif op == "update":
                self.nested_update(model, rel, current, arg, at)
            elif op == "upsert":
                self.nested_upsert(model, rel, current, arg, at)
            elif op == "delete":
                self.nested_delete(model, rel, current, arg, at)
            else:
                raise fail(f"`{op}` is not available on a to-one relation.", at)
        return fixed

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
    ) -> Statement:
        rows = items_of(data, path)
        self.wrote(model)
        fixed = fixed or {}
        b = self.builder()
        columns: list[ScalarField] = []
        per_row: list[dict[str, str]] = []
        for i, row in enumerate(rows):
            at = f"{path}.{i}"
            row = self.check_data(model, row, at)
            for name in row:
                if name in model.relations:
                    raise fail("`createMany` does not take nested relations.", f"{at}.{name}")
            assigned = dict((f.name, expr) for f, expr in self.assignments(b, model, row, at, update=False))
            for name, source in fixed.items():
                assigned[name] = b.param(source)
            for f in model.fields.values():
                if f.name not in assigned:
                    generated = default_source(f)
                    if generated is not None:
                        assigned[f.name] = b.param(generated)
                    elif f.required and not f.has_default and not f.is_list:
                        raise fail(f"Argument `{f.name}` is missing in `{at}`.", f"{at}.{f.name}")
            per_row.append(assigned)
            for name in assigned:
                if model.fields[name] not in columns:
                    columns.append(model.fields[name])
        sql = writesql.insert_many(
            model, columns, per_row, skip_duplicates=skip_duplicates, returning=returning
        )
        statement = self.statement(b, sql, count=not returning)
        if not returning:
            self.steps.append(statement)
        return statement


def _required_relation(rel: RelationField, model: Model, target: Model, path: str) -> Exception:
    return fail(
        f"The change you are trying to make would violate the required relation '{rel.relation_name}' "
        f"between the `{model.name}` and `{target.name}` models (`{path}`).",
        path,
    )


def connect_expect(model: Model, rel: RelationField, target: Model) -> Expect:
    kind = "one-to-many" if rel.is_list or (rel.back and not rel.is_list) else "one-to-one"
    cause = (
        f"No '{target.name}' record(s) (needed to inline the relation on '{model.name}' record(s)) was found "
        f"for a nested connect on {kind} relation '{rel.relation_name}'."
    )
    return Expect(Code.RECORD_NOT_FOUND, NOT_FOUND + cause, {"cause": cause})


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


def _on_delete(schema: Schema, owner: Model, rel: RelationField) -> str:
    if rel.on_delete:
        return rel.on_delete
    # Prisma's defaults: SetNull for an optional relation, Restrict for a required one.
    return "Restrict" if any(owner.fields[f].required for f in rel.fields) else "SetNull"


def referencing(schema: Schema, model: Model, changed: set[str]) -> set[str]:
    """Models whose foreign keys follow an update of `changed` fields of `model` (onUpdate; Cascade
    by default)."""
    found = set()
    for other in schema.models.values():
        for rel in other.relations.values():
            if rel.target == model.name and rel.fields and set(rel.references) & changed:
                if (rel.on_update or "Cascade") in ("Cascade", "SetNull", "SetDefault"):
                    found.add(other.name)
    return found


def cascades(schema: Schema, model: Model, seen: set[str] | None = None) -> set[str]:
    """Models whose rows change when rows of `model` are deleted (onDelete Cascade / SetNull / SetDefault)."""
    seen = seen if seen is not None else set()
    for other in schema.models.values():
        for rel in other.relations.values():
            if rel.target != model.name or not rel.fields:
                continue
            if (
                _on_delete(schema, other, rel) in ("Cascade", "SetNull", "SetDefault")
                and other.name not in seen
            ):
                seen.add(other.name)
                cascades(schema, other, seen)
        for rel in other.relations.values():
            joined = rel.link
            if joined is not None and joined.kind == "m2m" and rel.target == model.name:
                seen.add(other.name)
    return seen


def identity_read(schema: Schema, model: Model, selection: Any, bound: str, path: str = "select") -> ReadPlan:
    """The selection of the record bound under `bound`, found by its identity."""
    read = ReadPlan(model, plan_selection(schema, model, selection, path), single=True)
    conditions: list[Filter] = [
        Compare(model.fields[k], Op.EQ, Bound(bound, model.fields[k].column)) for k in model.identity()
    ]
    read.filter = All(tuple(conditions)) if len(conditions) > 1 else conditions[0]
    return read


def read_back(compiler: WriteCompiler, model: Model, selection: Any, bound: str) -> Statement:
    if not model.identity():
        raise fail(f"Model {model.name} has no id or required unique field to read the result by.", "select")
    b = compiler.builder()
    sql = render_read(b, identity_read(compiler.schema, model, selection, bound))
    return Statement(sql, tuple(b.sources), result=True)
