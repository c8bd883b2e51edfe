"""ORDER BY terms (fields through to-one relations, a relation's `_count`, `_relevance`, groupBy
aggregates), their reversal for a negative `take`, and the condition of a page that starts at a
cursor record, as Prisma's engine selects it (in SQL over a stable order, else as its in-memory
paging would)."""

from __future__ import annotations

from collections.abc import Callable

from .nodes import Op, Order, ReadPlan
from .quoting import column, ident
from .schema import Model
from .sqlbuilder import AGGREGATE_SQL, Builder, link, model_table
from .sqlfilters import render_filter
from .stableorder import stable_order


def order_expr(b: Builder, o: Order, alias: str, model: Model) -> str:
    direction = " DESC" if o.descending else " ASC"
    nulls = f" NULLS {o.nulls.upper()}" if o.nulls else ""
    return _term_expr(b, o, alias, model) + direction + nulls


def _term_expr(b: Builder, o: Order, alias: str, model: Model) -> str:
    """The value an order term sorts by, for the row `alias`."""
    if o.relevance is not None:
        # Prisma's own ranking SQL for `_relevance`.
        columns = ", ".join(column(alias, f.column) for f in o.relevance.fields)
        return f"ts_rank(to_tsvector(concat_ws(' ', {columns})), to_tsquery({b.param(o.relevance.search)}))"
    if o.aggregate:
        assert o.field is not None
        return f"{AGGREGATE_SQL[o.aggregate]}({column(alias, o.field.column)})"
    if not o.path and o.count_of is None:
        assert o.field is not None
        return column(alias, o.field.column)
    return _path_expr(b, o, alias, model, 0)


def _path_expr(b: Builder, o: Order, alias: str, model: Model, depth: int) -> str:
    if depth == len(o.path):
        if o.count_of is not None:
            child = b.alias()
            target = b.schema.models[o.count_of.target]
            return (
                f"(SELECT count(*) FROM {model_table(target)} AS {ident(child)} "
                f"WHERE {link(b.schema, o.count_of, alias, child)})"
            )
        assert o.field is not None
        return column(alias, o.field.column)
    relation = o.path[depth]
    target = b.schema.models[relation.target]
    child = b.alias()
    inner = _path_expr(b, o, child, target, depth + 1)
    return (
        f"(SELECT {inner} FROM {model_table(target)} AS {ident(child)} "
        f"WHERE {link(b.schema, relation, alias, child)} LIMIT 1)"
    )


def reversed_order(order: list[Order]) -> list[Order]:
    flip = {"first": "last", "last": "first", "": ""}
    return [
        Order(
            o.path,
            o.field,
            not o.descending,
            flip[o.nulls] if o.nulls else ("first" if not o.descending else "last"),
            o.count_of,
            o.aggregate,
            o.relevance,
            o.implicit,
        )
        for o in order
    ]


def cursor_condition(
    b: Builder, read: ReadPlan, alias: str, parent: str = "", *, in_memory: bool = True
) -> str:
    """The rows of a page from a cursor, as Prisma's engine selects them.

    Its SQL keeps rows by a loose test over the client's order terms (a NULL on either side of a
    nullable field matches). Over a stable order (`stable_order`) that is all. Otherwise, and for nested
    lists, it pages in memory: the page starts at the cursor record among the rows found (none if it
    is not among them), which is the rows at or after it in the order, NULLs placed as ORDER BY
    places them. Without an order it is the id order, from the cursor on (paged in memory too when
    the id is compound).
    """
    assert read.cursor_where is not None
    cursor_where = read.cursor_where
    table_sql = model_table(read.model)
    at_cursor = _at_cursor(b, read)
    terms = reversed_order(read.order) if read.reverse else read.order
    client = [o for o in terms if not o.implicit] if read.client_order else []
    # `distinct` beside a cursor is done in memory by Prisma's engine, and the page with it.
    paged_in_memory = in_memory and (read.relation is not None or bool(read.distinct))
    if client and stable_order(b.schema, read.model, client) and not paged_in_memory:
        return _loose_all(b, client, alias, read.model, at_cursor)
    exists_alias = b.alias()
    found = render_filter(b, cursor_where, exists_alias)
    if in_memory and read.relation is not None and parent:
        found += f" AND {link(b.schema, read.relation, parent, exists_alias)}"
    if (
        in_memory
        and read.filter is not None
        and (paged_in_memory or client or not stable_order(b.schema, read.model, terms))
    ):
        found += f" AND {render_filter(b, read.filter, exists_alias)}"
    if in_memory and client:
        # The cursor record is among the rows found only if it passes the loose test itself (a NULL
        # through an optional relation fails it).
        found += f" AND {_loose_all(b, client, exists_alias, read.model, at_cursor)}"
    exists = f"EXISTS (SELECT 1 FROM {table_sql} AS {ident(exists_alias)} WHERE {found})"
    if not terms:
        return exists
    position = _at_or_after(b, terms, alias, read.model, at_cursor)
    if not client:
        return f"({exists} AND {position})"
    return f"({exists} AND {position} AND {_loose_all(b, client, alias, read.model, at_cursor)})"


def distinct_cursor(b: Builder, read: ReadPlan, alias: str) -> tuple[str, str, str]:
    """A cursor beside `distinct`, in three parts: the loose test of the rows found ("" when there
    is no order of the client's), the position at or after the cursor record, and the test that a
    row is the cursor record."""
    assert read.cursor_where is not None
    at_cursor = _at_cursor(b, read)
    terms = reversed_order(read.order) if read.reverse else read.order
    client = [o for o in terms if not o.implicit] if read.client_order else []
    loose = _loose_all(b, client, alias, read.model, at_cursor) if client else ""
    position = _at_or_after(b, terms, alias, read.model, at_cursor)
    return loose, position, render_filter(b, read.cursor_where, alias)


def _at_cursor(b: Builder, read: ReadPlan) -> Callable[[Order], str]:
    """The value of an order term for the cursor record, as a subquery (a fresh alias each time)."""
    assert read.cursor_where is not None
    cursor_where = read.cursor_where
    table_sql = model_table(read.model)

    def at_cursor(term: Order) -> str:
        c = b.alias()
        found = render_filter(b, cursor_where, c)
        value = _term_expr(b, term, c, read.model)
        return f"(SELECT {value} FROM {table_sql} AS {ident(c)} WHERE {found} LIMIT 1)"

    return at_cursor


def _at_or_after(
    b: Builder, terms: list[Order], alias: str, model: Model, at_cursor: Callable[[Order], str]
) -> str:
    """The row `alias` is the cursor record or sorts after it over `terms` ("TRUE" with none)."""
    if not terms:
        return "TRUE"
    ors = []
    for i, term in enumerate(terms):
        ands = [_same(b, p, alias, model, at_cursor(p)) for p in terms[:i]]
        ands.append(_after(b, term, alias, model, at_cursor(term)))
        ors.append("(" + " AND ".join(ands) + ")")
    ors.append("(" + " AND ".join(_same(b, p, alias, model, at_cursor(p)) for p in terms) + ")")
    return f"({' OR '.join(ors)})"


def _loose_all(
    b: Builder, client: list[Order], alias: str, model: Model, at_cursor: Callable[[Order], str]
) -> str:
    """Prisma's engine's own cursor test in SQL (it leaves out rows where a related record is
    missing: it tests a NULL of an optional relation's required field as if it could not be NULL)."""
    loose = []
    for i, term in enumerate(client):
        ands = [_loose(b, p, alias, model, Op.EQ, at_cursor(p)) for p in client[:i]]
        last = i == len(client) - 1
        op = (Op.GTE if last else Op.GT) if not term.descending else (Op.LTE if last else Op.LT)
        ands.append(_loose(b, term, alias, model, op, at_cursor(term)))
        loose.append("(" + " AND ".join(ands) + ")")
    return f"({' OR '.join(loose)})"


def _loose(b: Builder, o: Order, alias: str, model: Model, op: Op, cursor_value: str) -> str:
    mine = _term_expr(b, o, alias, model)
    field_nullable = o.count_of is None and o.field is not None and not o.field.required
    test = f"{mine} {op} {cursor_value}"
    if field_nullable:
        test = f"({test} OR {mine} IS NULL OR {cursor_value} IS NULL)"
    if op != Op.EQ and o.path and o.path[0].joined().kind == "fk_here":
        # A row without the related record (its key NULL) passes the comparison, as Prisma's
        # engine writes it (not the equality).
        keys = [model.fields[mine_key] for mine_key, _ in o.path[0].joined().pairs]
        missing = " OR ".join(f"{column(alias, f.column)} IS NULL" for f in keys if not f.required)
        if missing:
            test = f"({test} OR {missing})"
    return test


def _nullable(o: Order) -> bool:
    if o.count_of is not None or o.relevance is not None or o.aggregate:
        return False
    return (o.field is not None and not o.field.required) or any(not r.required for r in o.path)


def _same(b: Builder, o: Order, alias: str, model: Model, cursor_value: str) -> str:
    mine = _term_expr(b, o, alias, model)
    if _nullable(o):
        return f"{mine} IS NOT DISTINCT FROM {cursor_value}"
    return f"{mine} = {cursor_value}"


def _after(b: Builder, o: Order, alias: str, model: Model, cursor_value: str) -> str:
    """The row sorts strictly after the cursor on this term (NULLs last unless asked otherwise for
    ASC, first for DESC, as Postgres sorts them)."""
    mine = _term_expr(b, o, alias, model)
    beyond = f"{mine} {Op.LT if o.descending else Op.GT} {cursor_value}"
    if not _nullable(o):
        return beyond
    nulls_last = o.nulls == "last" or (not o.nulls and not o.descending)
    if nulls_last:
        return f"({cursor_value} IS NOT NULL AND ({mine} IS NULL OR {beyond}))"
    return f"({mine} IS NOT NULL AND ({cursor_value} IS NULL OR {beyond}))"
