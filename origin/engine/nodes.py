"""The plan: what a read, an aggregate or a groupBy asks for, as plain data resolved against the
schema (filters, selections, order, windows). The planning modules (`filters`, `fieldfilters`,
`reads`, `aggregates`) build these nodes; the Query stage (`sql` and its parts) renders them. No
request values: those stay behind `params.Source`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
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


class Op(StrEnum):
    """The comparison of a `Compare`: `fieldfilters` chooses it from Prisma's filter keys,
    `sqlfilters` renders it (and `sqlorder` compares a cursor's terms with it). A member's value is
    its SQL operator where it has one, so it can go into the text as it is."""

    EQ = "="
    NE = "<>"
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="
    IN = "in"
    NOT_IN = "notin"
    LIKE = "like"  # a String field against a LIKE pattern (contains, startsWith, endsWith)
    SEARCH = "search"  # full-text: the column as a tsvector against a tsquery
    IS_NULL = "isnull"
    NOT_NULL = "notnull"
    # scalar lists
    HAS = "has"
    HAS_EVERY = "hasEvery"
    HAS_SOME = "hasSome"
    IS_EMPTY = "isEmpty"
    NOT_EMPTY = "notEmpty"
    # Json (with `json_path`, or the whole value)
    JSON_LIKE = "json_like"  # string_contains, string_starts_with, string_ends_with
    ARRAY_CONTAINS = "array_contains"
    ARRAY_STARTS_WITH = "array_starts_with"
    ARRAY_ENDS_WITH = "array_ends_with"


# The operators that take their value as a SQL operator would (`column op value`).
ORDERING = frozenset({Op.EQ, Op.NE, Op.LT, Op.LTE, Op.GT, Op.GTE})


@dataclass(frozen=True)
class Compare(Filter):
    """`column op value`, or a Json op with `json_path`. `aggregate` wraps the column (groupBy
    having)."""

    field: ScalarField
    op: Op
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


def is_empty(f: Filter) -> bool:
    """A condition that tests nothing: an AND or OR of no conditions."""
    return isinstance(f, All | Any_) and not f.items


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
