"""The plan: what a read, an aggregate or a groupBy asks for, as plain data resolved against the
schema (filters, selections, order, windows). The planning modules (`filters`, `reads`,
`aggregates`) build these nodes; `sql` renders them. No request values: those stay behind
`params.Source`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .params import Source
from .schema import Model, RelationField, ScalarField

# --- filters ------------------------------------------------------------------------------------


class Filter:
    pass


@dataclass(frozen=True)
class All(Filter):
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Any_(Filter):
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Negate(Filter):
    item: Filter


@dataclass(frozen=True)
class Constant(Filter):
    value: bool


@dataclass(frozen=True)
class Compare(Filter):
    """`column op value`; op: = <> < <= > >= in notin like isnull notnull has hasEvery hasSome
    isEmpty notEmpty, or a Json op with `json_path`. `aggregate` wraps the column (groupBy having)."""

    field: ScalarField
    op: str
    value: Source | None = None
    insensitive: bool = False
    json_path: Source | None = None
    other: ScalarField | None = None  # a field reference instead of a value
    aggregate: str = ""


@dataclass(frozen=True)
class Related(Filter):
    """some | every | none | is | isNot over a relation."""

    relation: RelationField
    model: Model  # the related model
    kind: str
    inner: Filter


# --- selection and order ------------------------------------------------------------------------


@dataclass
class Selection:
    model: Model
    # In output order: ("scalar", name, ScalarField) | ("relation", name, ReadPlan) | ("count", name, counts)
    entries: list[tuple[str, str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RelationCount:
    relation: RelationField
    model: Model
    filter: Filter | None


@dataclass(frozen=True)
class Order:
    """ORDER BY one term: a field reached through to-one `path`, a relation's `_count`, or the
    full-text relevance of some String fields to a search (`_relevance`)."""

    path: tuple[RelationField, ...]
    field: ScalarField | None
    descending: bool
    nulls: str = ""  # "" | first | last
    count_of: RelationField | None = None
    aggregate: str = ""  # groupBy: _count _avg _sum _min _max
    relevance: Relevance | None = None
    implicit: bool = False  # added by us to make pages deterministic; not the client's order


@dataclass(frozen=True)
class Relevance:
    fields: tuple[ScalarField, ...]
    search: Source  # a tsquery text


@dataclass
class ReadPlan:
    model: Model
    selection: Selection
    filter: Filter | None = None
    order: list[Order] = field(default_factory=list)
    take: Source | None = None
    reverse: bool = False  # a negative take: read backwards, return in order
    skip: Source | None = None
    cursor: Filter | None = None  # rows at or after the cursor record in `order`
    cursor_where: Filter | None = None
    distinct: list[ScalarField] = field(default_factory=list)
    single: bool = False
    relation: RelationField | None = None  # set on nested reads: how they join their parent
    client_order: bool = False  # the client gave an orderBy


@dataclass
class AggregatePlan:
    model: Model
    read: ReadPlan  # the rows aggregated (filter, order, window)
    # (output key, op, [(name, field or None for _all)])
    parts: list[tuple[str, list[tuple[str, ScalarField | None]]]]


@dataclass
class GroupByPlan:
    model: Model
    by: list[ScalarField]
    filter: Filter | None
    having: Filter | None
    order: list[Order]
    take: Source | None
    skip: Source | None
    # output entries: ("field", name, ScalarField) | ("agg", op, [(name, field|None)])
    entries: list[tuple[str, str, Any]]
