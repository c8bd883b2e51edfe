"""The plan of a write: its statements as plain data, as `nodes` is the plan of a read. The write
planner (`writesteps` ← `writelinks` ← `writecreates` ← `writeupdates` ← `writes`, `writeactions`)
builds these; `writesql` alone renders them to SQL text and `$n` parameters.

A node names models, fields, relations, bound records and value sources (`params.Source`), never
SQL: the renderer picks the row aliases (a statement's own row, a `Limited` inner row) and numbers
the parameters in the order their text reads, except where a node says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from .nodes import Filter, ReadPlan
from .params import Source
from .program import Expect, Rebind
from .schema import Model, RelationField, ScalarField

# The atomic number updates (`increment: n`); `writesql` knows their SQL operators.
ATOMIC_OPS = ("increment", "decrement", "multiply", "divide")

# --- conditions on the row a statement writes or reads ------------------------------------------


@dataclass(frozen=True)
class SameRecord:
    """The row of `model` with the identity of the row bound under `bound`."""

    model: Model
    bound: str


@dataclass(frozen=True)
class EqualTo:
    """The rows whose fields equal the sources: (field name, source) pairs."""

    model: Model
    keys: tuple[tuple[str, Source], ...]


@dataclass(frozen=True)
class OtherRecord:
    """Any row of `model` but the one bound under `bound`."""

    model: Model
    bound: str


@dataclass(frozen=True)
class Linked:
    """The rows of `rel`'s target related to the bound parent row."""

    rel: RelationField
    parent: str


@dataclass(frozen=True)
class Matches:
    """The rows a read filter finds; `write`: as the condition of an UPDATE or DELETE, which
    Prisma's engine writes apart (no filter there is every row)."""

    filter: Filter | None
    write: bool = False


@dataclass(frozen=True)
class Both:
    first: Cond
    second: Cond


@dataclass(frozen=True)
class AnyOf:
    """One of the conditions holds; none is false."""

    conditions: tuple[Cond, ...]


@dataclass(frozen=True)
class Limited:
    """At most `limit` rows of `model` where `inner` holds, chosen by the database."""

    model: Model
    inner: Cond
    limit: Source


Cond = SameRecord | EqualTo | OtherRecord | Linked | Matches | Both | AnyOf | Limited

# --- what a column is set to --------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    source: Source


@dataclass(frozen=True)
class Null:
    """NULL written as such (a foreign key let go of)."""


@dataclass(frozen=True)
class Atomic:
    """The column's value changed by one of `ATOMIC_OPS`."""

    op: str
    source: Source


@dataclass(frozen=True)
class Push:
    """A list with one element (`element`) or a list of them appended; NULL becomes the pushed one."""

    source: Source
    element: bool


SetValue = Value | Null | Atomic | Push
Assign = tuple[ScalarField, SetValue]

# --- statements ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InsertRow:
    """One row (the columns not named take their defaults), returned."""

    model: Model
    assigned: tuple[Assign, ...]


@dataclass(frozen=True)
class InsertMany:
    """Many rows, each (field name, value) pairs: a column a row leaves out is its DEFAULT. Each
    row's values are numbered in its own order, the text follows `columns`."""

    model: Model
    columns: tuple[ScalarField, ...]
    rows: tuple[tuple[tuple[str, SetValue], ...], ...]
    skip_duplicates: bool
    returning: bool


@dataclass(frozen=True)
class InsertJoinRow:
    """A many-to-many join row between two bound records (none when it is there already)."""

    rel: RelationField
    parent: str
    child: str


@dataclass(frozen=True)
class DeleteJoinRows:
    """The many-to-many join rows of the bound parent; with `named`, only those to the target rows
    one of whose conditions holds."""

    rel: RelationField
    parent: str
    named: tuple[Cond, ...] | None = None


@dataclass(frozen=True)
class UpdateRows:
    """`sets` (none: a SET that changes nothing, so the rows still count) where `where` holds.
    `aliased`: the row is named in the statement (unnamed, `where` and `sets` read the bare
    columns). `returning`: "row", "one" (1, to tell whether a row was there) or "". `where_first`:
    the condition's parameters are numbered before the SET's, where the planner has always
    numbered them so."""

    model: Model
    sets: tuple[Assign, ...]
    where: Cond
    aliased: bool = True
    returning: str = ""
    where_first: bool = False


@dataclass(frozen=True)
class DeleteRows:
    model: Model
    where: Cond
    returning: str = ""


@dataclass(frozen=True)
class SelectRow:
    """The first row where `where` holds (locked for the update that follows, with `for_update`)."""

    model: Model
    where: Cond
    for_update: bool = False


@dataclass(frozen=True)
class SelectUnchanged:
    """The row an update that sets nothing would have updated."""

    model: Model
    where: Cond


@dataclass(frozen=True)
class Exists:
    """A row when one of `model` is where `where` holds (`first`: stop at the first)."""

    model: Model
    where: Cond
    first: bool = False


@dataclass(frozen=True)
class CountDiffers:
    """A row when the rows of `model` among the bound `records` are not as many as the distinct
    `criteria` (each record's lookup filter) name, which is known once values are bound."""

    model: Model
    records: tuple[str, ...]
    criteria: tuple[Filter, ...]


@dataclass(frozen=True)
class NoRowBinding:
    """No row, ever, from a statement that still binds `where`'s values (so a bad one is refused)."""

    model: Model
    where: Cond


Write = InsertRow | InsertMany | UpdateRows | DeleteRows | SelectUnchanged


@dataclass(frozen=True)
class WithWritten:
    """A write and the read of its returned rows, in one statement."""

    write: Write
    read: ReadPlan


@dataclass(frozen=True)
class WrittenKeys:
    """A many-row write, answering the identities of the rows it wrote as one JSON array."""

    model: Model
    write: Write


@dataclass(frozen=True)
class AmongWritten:
    """The read of the rows whose identities `WrittenKeys` bound under `keys`."""

    model: Model
    read: ReadPlan
    keys: str


@dataclass(frozen=True)
class ReadBack:
    """The read of a written record (or of anything the plan found)."""

    read: ReadPlan


Node = (
    InsertRow
    | InsertMany
    | InsertJoinRow
    | DeleteJoinRows
    | UpdateRows
    | DeleteRows
    | SelectRow
    | SelectUnchanged
    | Exists
    | CountDiffers
    | NoRowBinding
    | WithWritten
    | WrittenKeys
    | AmongWritten
    | ReadBack
)

# --- the plan's steps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One statement of the plan, with what the program does with its rows (`program.Statement`)."""

    node: Node
    bind: str = ""
    expect: Expect | None = None
    count: bool = False
    result: bool = False
    refuse: Expect | None = None


@dataclass(frozen=True)
class Branch:
    """Run `then` when the row bound under `test` exists, else `otherwise` (`program.Branch`)."""

    test: str
    then: tuple[PlanStep, ...]
    otherwise: tuple[PlanStep, ...]


PlanStep = Run | Branch | Rebind
