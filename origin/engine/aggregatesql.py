"""`aggregate` and `groupBy` as one statement each, their result built as JSON inside Postgres."""

from __future__ import annotations

from .jsonsql import finite, json_object, scalar_json
from .nodes import AggregatePlan, GroupByPlan
from .quoting import column, ident
from .schema import ScalarField
from .sqlbuilder import AGGREGATE_SQL, Builder, model_table
from .sqlfilters import render_filter
from .sqlorder import cursor_condition, order_expr, reversed_order


def _aggregate_value(b: Builder, op: str, f: ScalarField | None, src: str) -> str:
    if f is None:
        return "count(*)"
    col = column(src, f.column)
    if op == "_count":
        return f"count({col})"
    if op == "_avg":
        if f.type == "Decimal":
            return scalar_json(b.schema, f, f"avg({col})")
        return finite(f"avg({col})::float8")
    if op == "_sum":
        if f.type in ("Int",):
            return f"sum({col})"
        if f.type == "Float":
            # A sum of float4 stays float4, which JSON prints at its shortest (as Prisma's engine reads it).
            return finite(f"sum({col})")
        return scalar_json(b.schema, f, f"sum({col})")
    return scalar_json(b.schema, f, f"{AGGREGATE_SQL[op]}({col})")


def render_aggregate(b: Builder, agg: AggregatePlan) -> str:
    alias = b.alias()
    read = agg.read
    conditions = []
    if read.filter is not None:
        conditions.append(render_filter(b, read.filter, alias))
    if read.cursor_where is not None:
        # Aggregates page in SQL alone (no in-memory step that needs the cursor record in the rows).
        conditions.append(cursor_condition(b, read, alias, in_memory=False))
    inner = f"SELECT {ident(alias)}.* FROM {model_table(agg.model)} AS {ident(alias)}"
    if conditions:
        inner += " WHERE " + " AND ".join(conditions)
    order = reversed_order(read.order) if read.reverse else read.order
    if order:
        inner += " ORDER BY " + ", ".join(order_expr(b, o, alias, agg.model) for o in order)
    if read.take is not None:
        inner += f" LIMIT {b.param(read.take)}"
    if read.skip is not None:
        inner += f" OFFSET {b.param(read.skip)}"
    pairs = []
    for op, fields in agg.parts:
        pairs.append((op, json_object([(name, _aggregate_value(b, op, f, "s")) for name, f in fields])))
    return f"SELECT {json_object(pairs)} FROM ({inner}) AS s"


def render_group_by(b: Builder, g: GroupByPlan) -> str:
    alias = b.alias()
    pairs = []
    for kind, name, payload in g.entries:
        if kind == "field":
            pairs.append((name, scalar_json(b.schema, payload, column(alias, payload.column))))
        else:
            pairs.append((name, json_object([(n, _aggregate_value(b, name, f, alias)) for n, f in payload])))
    sql = f"SELECT {json_object(pairs)} AS j FROM {model_table(g.model)} AS {ident(alias)}"
    if g.filter is not None:
        sql += f" WHERE {render_filter(b, g.filter, alias)}"
    sql += " GROUP BY " + ", ".join(column(alias, f.column) for f in g.by)
    if g.having is not None:
        sql += f" HAVING {render_filter(b, g.having, alias)}"
    if g.order:
        sql += " ORDER BY " + ", ".join(order_expr(b, o, alias, g.model) for o in g.order)
    if g.take is not None:
        sql += f" LIMIT {b.param(g.take)}"
    if g.skip is not None:
        sql += f" OFFSET {b.param(g.skip)}"
    return f"SELECT coalesce(json_agg(s.j), '[]'::json) FROM ({sql}) AS s"
