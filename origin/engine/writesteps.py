"""The step list a write is planned into, and what every part of the planning shares (the base of
`writes.WriteCompiler`): bound record names, the models written and read, the records an update
may not have found, the order of Prisma's engine for a record's nested writes (`record_writes`),
the checks of nested input, and the rules of referential actions (which models a write touches).

`create` and `nested` are the recursion's two entry points, defined further down the chain
(`writecreates`, `writes`): a nested write creates records whose own nested writes recurse.
"""

from __future__ import annotations

import contextlib
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bwcontract.codes import Code

from .arguments import fail
from .nodes import Filter
from .params import Generated, Source
from .program import Expect
from .schema import Model, RelationField, ScalarField, Schema
from .writenodes import Assign, Exists, PlanStep, Run, SameRecord, Value

NOT_FOUND = "An operation failed because it depends on one or more records that were required but not found. "


Position = tuple[list[PlanStep], int]  # a place in a list of steps


@dataclass(eq=False)
class Mark:
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
class WriteSteps(ABC):
    """The state of one write's planning and the helpers every part of it uses."""

    schema: Schema
    steps: list[PlanStep] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)
    # Bound records an update may not have found, and the error when something must link to them.
    maybe_missing: dict[str, tuple[Model, Expect]] = field(default_factory=dict)
    # The criteria each bound record was looked up by (its unique filter).
    criteria: dict[str, Filter] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)
    # Per record being written: its marked nested writes, nested creates put off among them.
    _marks: list[list[Mark]] = field(default_factory=list)
    _first_mark: Mark | None = None

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
        moves: list[tuple[int, int, Mark, list[PlanStep]]] = []  # (position, then, create, steps)
        last: Mark | None = None
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

    def mark(self, mark: Mark) -> None:
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
            self.mark(Mark(None, (self.steps, len(self.steps)), returns=True, swapped=False))

    def wrote(self, model: Model, *, deleting: bool = False) -> None:
        self.written.add(model.name)
        if deleting:
            self.written.update(cascades(self.schema, model))

    @abstractmethod
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
        """Steps inserting one record (and its nested writes); `writecreates`."""

    @abstractmethod
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
        """Steps of the nested writes through `rel` of a bound record; `writes`."""

    def require(self, bound: str) -> None:
        """Before a record is linked to the bound record of an update that may not exist: it must
        (Prisma's engine fails such a nested write with P2025, other nested writes run regardless)."""
        found = self.maybe_missing.get(bound)
        if found is None:
            return
        model, expect = found
        self.steps.append(Run(Exists(model, SameRecord(model, bound)), bind=self.name(), expect=expect))

    # --- the input of writes -----------------------------------------------------------------------

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


def touched_at(model: Model) -> list[Assign]:
    """`@updatedAt` columns set to now: a record a nested connect points elsewhere is updated (a
    disconnect leaves it alone, as Prisma's engine does)."""
    return [(f, now(f)) for f in model.fields.values() if f.updated_at]


def now(f: ScalarField) -> Value:
    """The moment of the operation, as field `f` stores it."""
    return Value(Generated("now", (f.native_type or "").lower()))


def required_relation(rel: RelationField, model: Model, target: Model, path: str) -> Exception:
    return fail(
        f"The change you are trying to make would violate the required relation '{rel.relation_name}' "
        f"between the `{model.name}` and `{target.name}` models (`{path}`).",
        path,
    )


def required_relation_refused(rel: RelationField, model_a: Model, model_b: Model) -> Expect:
    """P2014 as Prisma's engine words it when a write runs: records of `model_a` cannot let go of
    their required relation `rel` to `model_b`."""
    message = (
        f"The change you are trying to make would violate the required relation "
        f"'{rel.relation_name}' between the `{model_a.name}` and `{model_b.name}` models."
    )
    meta = {"relation_name": rel.relation_name, "model_a_name": model_a.name, "model_b_name": model_b.name}
    return Expect(Code.REQUIRED_RELATION, message, meta)


def connect_expect(model: Model, rel: RelationField, target: Model) -> Expect:
    kind = "one-to-many" if rel.is_list or (rel.back and not rel.is_list) else "one-to-one"
    cause = (
        f"No '{target.name}' record(s) (needed to inline the relation on '{model.name}' record(s)) was found "
        f"for a nested connect on {kind} relation '{rel.relation_name}'."
    )
    return Expect(Code.RECORD_NOT_FOUND, NOT_FOUND + cause, {"cause": cause})


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
