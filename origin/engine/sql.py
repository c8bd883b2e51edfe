"""Plans as SQL text with `$n` bind parameters: the Query stage. Values never enter the text;
names come from the schema through `quoting`.

This module renders a `ReadPlan` (`render_read`): the record's selection as JSON built inside
Postgres, relations as correlated subqueries aggregated with `json_agg`, so a query with nested
includes is one statement and one round trip. The parts live beside it: `sqlbuilder` (parameters,
aliases, joins), `jsonsql` (values), `sqlfilters` (conditions), `sqlorder` (order and cursors),
`aggregatesql` (aggregate, groupBy); `writesql` writes the statements of writes. What the other
stages use of them is named here too (`__all__`), so they import the Query stage from one place.
"""

from __future__ import annotations

from collections.abc import Callable

from .aggregatesql import render_aggregate, render_group_by
from .jsonsql import json_object, scalar_json
from .nodes import ReadPlan, RelationCount, Selection
from .quoting import column, ident
from .sqlbuilder import Builder, link, model_table
from .sqlfilters import render_filter, render_write_filter, write_condition
from .sqlorder import cursor_condition, distinct_cursor, order_expr, reversed_order

__all__ = [
    "NOTHING_READ",
    "Builder",
    "json_object",
    "link",
    "model_table",
    "nested_json",
    "render_aggregate",
    "render_filter",
    "render_group_by",
    "render_read",
    "render_write_filter",
    "rows_query",
    "scalar_json",
    "selection_json",
    "write_condition",
]

# `take: 0` is answered without reading the table, as Prisma's engine answers it.
NOTHING_READ = "SELECT NULL"


def selection_json(b: Builder, sel: Selection, alias: str) -> str:
    pairs: list[tuple[str, str]] = []
    for kind, name, payload in sel.entries:
        if kind == "scalar":
            pairs.append((name, scalar_json(b.schema, payload, column(alias, payload.column))))
        elif kind == "relation":
            pairs.append((name, nested_json(b, payload, alias)))
        else:
            pairs.append((name, _counts_json(b, payload, alias)))
    return json_object(pairs)


def _counts_json(b: Builder, counts: list[tuple[str, RelationCount]], alias: str) -> str:
    pairs = []
    for name, rc in counts:
        child = b.alias()
        where = link(b.schema, rc.relation, alias, child)
        if rc.filter is not None:
            where += f" AND {render_filter(b, rc.filter, child)}"
        pairs.append(
            (name, f"(SELECT count(*) FROM {model_table(rc.model)} AS {ident(child)} WHERE {where})")
        )
    return json_object(pairs) if pairs else "'{}'::json"


def nested_json(b: Builder, read: ReadPlan, parent: str) -> str:
    assert read.relation is not None
    child = b.alias()
    condition = link(b.schema, read.relation, parent, child)
    if read.single:
        body = selection_json(b, read.selection, child)
        where = condition
        if read.filter is not None:
            where += f" AND {render_filter(b, read.filter, child)}"
        return f"(SELECT {body} FROM {model_table(read.model)} AS {ident(child)} WHERE {where} LIMIT 1)"
    rows = rows_query(b, read, child, extra=condition, parent=parent)
    ordering = " ORDER BY s.n DESC" if read.reverse else ""
    return f"(SELECT coalesce(json_agg(s.j{ordering}), '[]'::json) FROM ({rows}) AS s)"


def rows_query(
    b: Builder,
    read: ReadPlan,
    alias: str,
    *,
    extra: str = "",
    source: str = "",
    label: bool = True,
    parent: str = "",
) -> str:
    """SELECT <record json> AS j [, row number AS n] FROM ... WHERE ... ORDER BY ... LIMIT ... OFFSET."""
    body = selection_json(b, read.selection, alias)
    conditions = [extra] if extra else []
    if read.filter is not None:
        conditions.append(render_filter(b, read.filter, alias))
    order = reversed_order(read.order) if read.reverse else read.order
    order_sql = ", ".join(order_expr(b, o, alias, read.model) for o in order)
    after_distinct: list[str] = []
    if read.cursor_where is not None and read.distinct:
        # Prisma's engine pages a distinct list in memory: the rows its SQL finds (the filter and
        # its loose cursor test), the first of each distinct value, then the page from the cursor
        # record among those (none if it is not one of them).
        loose, position, found = distinct_cursor(b, read, alias)
        conditions += [loose] if loose else []
        after_distinct = [position, f"{ident(alias)}.__bw_has"]
    elif read.cursor_where is not None:
        conditions.append(cursor_condition(b, read, alias, parent))
    src = source or model_table(read.model)
    if read.distinct:
        inner_where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        partition = ", ".join(column(alias, f.column) for f in read.distinct)
        window_order = f" ORDER BY {order_sql}" if order_sql else ""
        src = (
            f"(SELECT {ident(alias)}.*, "
            f"row_number() OVER (PARTITION BY {partition}{window_order}) AS __bw_rn "
            f"FROM {src} AS {ident(alias)}{inner_where})"
        )
        conditions = [f"{ident(alias)}.__bw_rn = 1"]
        if after_distinct:
            src = (
                f"(SELECT {ident(alias)}.*, bool_or({found}) OVER () AS __bw_has "
                f"FROM {src} AS {ident(alias)} WHERE {ident(alias)}.__bw_rn = 1)"
            )
            conditions = after_distinct
    number = f", row_number() OVER (ORDER BY {order_sql}) AS n" if read.reverse else ""
    sql = f"SELECT {body}{' AS j' if label else ''}{number} FROM {src} AS {ident(alias)}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if order_sql:
        sql += f" ORDER BY {order_sql}"
    if read.take is not None:
        sql += f" LIMIT {b.param(read.take)}"
    elif read.single:
        sql += " LIMIT 1"
    if read.skip is not None:
        sql += f" OFFSET {b.param(read.skip)}"
    return sql


def render_read(
    b: Builder, read: ReadPlan, source: str = "", where: Callable[[str], str] | None = None
) -> str:
    """The read as one JSON value; `where` adds a condition on the row alias it is given."""
    alias = b.alias()
    extra = where(alias) if where is not None else ""
    if read.single and not read.reverse:
        return rows_query(b, read, alias, source=source, label=False, extra=extra)
    rows = rows_query(b, read, alias, source=source, extra=extra)
    if read.single:
        return f"SELECT s.j FROM ({rows}) AS s"
    ordering = " ORDER BY s.n DESC" if read.reverse else ""
    return f"SELECT coalesce(json_agg(s.j{ordering}), '[]'::json) FROM ({rows}) AS s"
