"""The SQL text of writes: the `writenodes` plan of a write (INSERT, UPDATE and DELETE statements, the
checks that run beside them, the reads of what they wrote) rendered as `program` steps.

This is the SQL stage for writes, as `sql` is for reads: the planning modules decide which statements
run, in which order and with which values (`params.Source`s); only here (and in `sql`) does text
become SQL. Names come from the schema through `quoting`; every value is a bind parameter taken
through the `Builder`, in the order the text reads (unless a node says otherwise), so `$n` follow
each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from .params import Bound, DistinctCount, Source
from .program import Branch, Rebind, Statement, Step
from .quoting import column, ident, literal, table
from .schema import Model, ScalarField, Schema
from .sql import Builder, model_table, render_filter, render_read, render_write_filter
from .writenodes import (
    AmongWritten,
    AnyOf,
    Assign,
    Atomic,
    Both,
    Cond,
    CountDiffers,
    DeleteJoinRows,
    DeleteRows,
    EqualTo,
    Exists,
    InsertJoinRow,
    InsertMany,
    InsertRow,
    Limited,
    Linked,
    Matches,
    Node,
    NoRowBinding,
    Null,
    OtherRecord,
    PlanStep,
    ReadBack,
    Run,
    SameRecord,
    SelectRow,
    SelectUnchanged,
    SetValue,
    UpdateRows,
    Value,
    WithWritten,
    WrittenKeys,
)

# The SQL operator of each atomic number update (`increment: n` → `col + n`).
ATOMIC = {"increment": "+", "decrement": "-", "multiply": "*", "divide": "/"}

T = "t"  # the alias of the written table
LIMITED = "l"  # the alias of the rows a `Limited` chooses among
WRITTEN = ident("w")  # the rows a write returned, in `WithWritten`


def render_steps(schema: Schema, steps: Sequence[PlanStep]) -> tuple[Step, ...]:
    """A write's planned steps as the program's statements, branches and rebinds."""
    out: list[Step] = []
    for step in steps:
        if isinstance(step, Run):
            sql, sources = render(schema, step.node)
            out.append(
                Statement(
                    sql,
                    sources,
                    bind=step.bind,
                    expect=step.expect,
                    count=step.count,
                    result=step.result,
                    refuse=step.refuse,
                )
            )
        elif isinstance(step, Rebind):
            out.append(step)
        else:
            then, otherwise = render_steps(schema, step.then), render_steps(schema, step.otherwise)
            out.append(Branch(step.test, then, otherwise))
    return tuple(out)


def render(schema: Schema, node: Node) -> tuple[str, tuple[Source, ...]]:
    """One statement's text and the sources of its `$1`, `$2`, …"""
    b = Builder(schema)
    if isinstance(node, WithWritten):
        # The read beside the write numbers its row aliases afresh, after the write's parameters.
        write = _statement(b, node.write)
        rb = Builder(schema, list(b.sources))
        body = render_read(rb, node.read, source=WRITTEN)
        return f"WITH {WRITTEN} AS ({write}) {body}", tuple(rb.sources)
    if isinstance(node, AmongWritten):
        keys = b.param(Bound(node.keys, "keys"))
        sql = render_read(b, node.read, where=lambda alias: _among(node.model, keys, alias))
        return sql, tuple(b.sources)
    if isinstance(node, ReadBack):
        return render_read(b, node.read), tuple(b.sources)
    if isinstance(node, WrittenKeys):
        return _written_keys(node.model, _statement(b, node.write)), tuple(b.sources)
    return _statement(b, node), tuple(b.sources)


# --- conditions and values ------------------------------------------------------------------------


def _col(alias: str, f: ScalarField) -> str:
    return column(alias, f.column) if alias else ident(f.column)


def _cond(b: Builder, c: Cond, alias: str) -> str:
    if isinstance(c, SameRecord):
        fields = [c.model.fields[k] for k in c.model.identity()]
        return " AND ".join(f"{_col(alias, f)} = {b.param(Bound(c.bound, f.column))}" for f in fields)
    if isinstance(c, EqualTo):
        return " AND ".join(
            f"{column(alias, c.model.fields[f].column)} = {b.param(src)}" for f, src in c.keys
        )
    if isinstance(c, OtherRecord):
        fields = [c.model.fields[k] for k in c.model.identity()]
        each = " OR ".join(
            f"{column(alias, f.column)} IS DISTINCT FROM {b.param(Bound(c.bound, f.column))}" for f in fields
        )
        return f"({each})"
    if isinstance(c, Linked):
        return _linked(b, c, alias)
    if isinstance(c, Matches):
        if c.filter is None:
            return "TRUE"
        return (render_write_filter if c.write else render_filter)(b, c.filter, alias)
    if isinstance(c, Both):
        return f"{_cond(b, c.first, alias)} AND {_cond(b, c.second, alias)}"
    if isinstance(c, AnyOf):
        return "(" + (" OR ".join(_cond(b, i, alias) for i in c.conditions) or "FALSE") + ")"
    if isinstance(c, Limited):
        inner = _cond(b, c.inner, LIMITED)
        return (
            f"{ident(alias)}.ctid IN (SELECT {ident(LIMITED)}.ctid FROM {model_table(c.model)} AS "
            f"{ident(LIMITED)} WHERE {inner} LIMIT {b.param(c.limit)})"
        )
    raise TypeError(f"unknown condition {c!r}")


def _linked(b: Builder, c: Linked, alias: str) -> str:
    """The rows of the relation's target (as `alias`) related to the bound parent row."""
    owner = b.schema.models[c.rel.owner]
    target = b.schema.models[c.rel.target]
    joined = c.rel.joined()
    if joined.kind == "m2m":
        j = ident("j")
        this = b.param(Bound(c.parent, owner.fields[joined.this_key].column))
        other = column(alias, target.fields[joined.other_key].column)
        return (
            f"EXISTS (SELECT 1 FROM {table(joined.join_schema, joined.join_table)} AS {j} WHERE "
            f"{j}.{ident(joined.this_column)} = {this} AND {j}.{ident(joined.other_column)} = {other})"
        )
    conditions = []
    for mine, theirs in joined.pairs:
        value = b.param(Bound(c.parent, owner.fields[mine].column))
        conditions.append(f"{column(alias, target.fields[theirs].column)} = {value}")
    return " AND ".join(conditions)


def _value(b: Builder, f: ScalarField, v: SetValue, alias: str) -> str:
    if isinstance(v, Value):
        return b.param(v.source)
    if isinstance(v, Null):
        return "NULL"
    if isinstance(v, Atomic):
        return f"{_col(alias, f)} {ATOMIC[v.op]} {b.param(v.source)}"
    col = _col(alias, f)
    expr = f"array_append({col}, {b.param(v.source)})" if v.element else f"{col} || {b.param(v.source)}"
    return f"coalesce({expr}, {expr})"


def _sets(b: Builder, model: Model, sets: tuple[Assign, ...], alias: str) -> str:
    """The SET list; none sets the first column to itself (an updateMany with no data still counts
    the rows it matched)."""
    if not sets:
        first = list(model.fields.values())[:1]
        return ", ".join(f"{ident(f.column)} = {ident(T)}.{ident(f.column)}" for f in first)
    return ", ".join(f"{ident(f.column)} = {_value(b, f, v, alias)}" for f, v in sets)


# --- statements -----------------------------------------------------------------------------------


def _statement(b: Builder, node: Node) -> str:
    if isinstance(node, InsertRow):
        return _insert(b, node)
    if isinstance(node, InsertMany):
        return _insert_many(b, node)
    if isinstance(node, InsertJoinRow):
        return _insert_join_row(b, node)
    if isinstance(node, DeleteJoinRows):
        return _delete_join_rows(b, node)
    if isinstance(node, UpdateRows):
        return _update(b, node)
    t = ident(T)
    if isinstance(node, DeleteRows):
        sql = f"DELETE FROM {model_table(node.model)} AS {t} WHERE {_cond(b, node.where, T)}"
        return sql + _returning(node.returning)
    if isinstance(node, SelectRow):
        sql = f"SELECT * FROM {model_table(node.model)} AS {t} WHERE {_cond(b, node.where, T)} LIMIT 1"
        return sql + " FOR UPDATE" if node.for_update else sql
    if isinstance(node, SelectUnchanged):
        return f"SELECT {t}.* FROM {model_table(node.model)} AS {t} WHERE {_cond(b, node.where, T)} LIMIT 1"
    if isinstance(node, Exists):
        sql = f"SELECT 1 FROM {model_table(node.model)} AS {t} WHERE {_cond(b, node.where, T)}"
        return sql + " LIMIT 1" if node.first else sql
    if isinstance(node, CountDiffers):
        return _count_differs(b, node)
    if isinstance(node, NoRowBinding):
        inner = f"SELECT 1 FROM {model_table(node.model)} AS {t} WHERE FALSE AND {_cond(b, node.where, T)}"
        return f"SELECT 1 WHERE NOT EXISTS ({inner})"
    raise TypeError(f"not a statement: {node!r}")


def _insert(b: Builder, node: InsertRow) -> str:
    into = model_table(node.model)
    if not node.assigned:
        return f"INSERT INTO {into} DEFAULT VALUES RETURNING *"
    cols = ", ".join(ident(f.column) for f, _ in node.assigned)
    vals = ", ".join(_value(b, f, v, "") for f, v in node.assigned)
    return f"INSERT INTO {into} ({cols}) VALUES ({vals}) RETURNING *"


def _insert_many(b: Builder, node: InsertMany) -> str:
    target = model_table(node.model)
    if not node.rows:
        # Nothing to insert: no row, and (for createManyAndReturn) an empty list.
        return f"SELECT * FROM {target} WHERE FALSE"
    fields = node.model.fields
    rows = [{name: _value(b, fields[name], v, "") for name, v in row} for row in node.rows]
    if not node.columns:
        sql = f"INSERT INTO {target} SELECT FROM generate_series(1, {len(rows)})"
    else:
        each = (", ".join(r.get(c.name, "DEFAULT") for c in node.columns) for r in rows)
        values = ", ".join(f"({row})" for row in each)
        sql = f"INSERT INTO {target} ({', '.join(ident(c.column) for c in node.columns)}) VALUES {values}"
    if node.skip_duplicates:
        sql += " ON CONFLICT DO NOTHING"
    if node.returning:
        sql += " RETURNING *"
    return sql


def _insert_join_row(b: Builder, node: InsertJoinRow) -> str:
    joined = node.rel.joined()
    owner = b.schema.models[node.rel.owner]
    target = b.schema.models[node.rel.target]
    this = b.param(Bound(node.parent, owner.fields[joined.this_key].column))
    other = b.param(Bound(node.child, target.fields[joined.other_key].column))
    return (
        f"INSERT INTO {table(joined.join_schema, joined.join_table)} "
        f"({ident(joined.this_column)}, {ident(joined.other_column)}) VALUES ({this}, {other}) "
        "ON CONFLICT DO NOTHING"
    )


def _delete_join_rows(b: Builder, node: DeleteJoinRows) -> str:
    joined = node.rel.joined()
    owner = b.schema.models[node.rel.owner]
    target = b.schema.models[node.rel.target]
    j = ident("j")
    this = b.param(Bound(node.parent, owner.fields[joined.this_key].column))
    sql = (
        f"DELETE FROM {table(joined.join_schema, joined.join_table)} AS {j} "
        f"WHERE {j}.{ident(joined.this_column)} = {this}"
    )
    if node.named is not None:
        conds = [_cond(b, c, T) for c in node.named]
        key = column(T, target.fields[joined.other_key].column)
        sql += (
            f" AND {j}.{ident(joined.other_column)} IN (SELECT {key} "
            f"FROM {model_table(target)} AS {ident(T)} WHERE {' OR '.join(conds)})"
        )
    return sql


def _update(b: Builder, node: UpdateRows) -> str:
    alias = T if node.aliased else ""
    if node.where_first:
        where = _cond(b, node.where, alias)
        sets = _sets(b, node.model, node.sets, alias)
    else:
        sets = _sets(b, node.model, node.sets, alias)
        where = _cond(b, node.where, alias)
    into = model_table(node.model)
    head = f"UPDATE {into} AS {ident(T)}" if node.aliased else f"UPDATE {into}"
    return f"{head} SET {sets} WHERE {where}" + _returning(node.returning)


def _returning(kind: str) -> str:
    return {"": "", "row": f" RETURNING {ident(T)}.*", "one": " RETURNING 1"}[kind]


def _count_differs(b: Builder, node: CountDiffers) -> str:
    model = node.model
    keys = [model.fields[k] for k in model.identity()]
    each = " OR ".join(
        "(" + " AND ".join(f"{column(T, f.column)} = {b.param(Bound(record, f.column))}" for f in keys) + ")"
        for record in node.records
    )
    count = f"(SELECT count(*) FROM {model_table(model)} AS {ident(T)} WHERE {each})"
    return f"SELECT 1 WHERE {count} <> {b.param(_distinct_count(b.schema, node))}::bigint"


def _distinct_count(schema: Schema, node: CountDiffers) -> DistinctCount:
    """Each lookup's criteria as the shape of its SQL and its value sources, told apart when bound."""
    shapes = []
    for criteria in node.criteria:
        b = Builder(schema)
        shapes.append((render_filter(b, criteria, T), tuple(b.sources)))
    return DistinctCount(tuple(shapes))


def _written_keys(model: Model, write: str) -> str:
    w = ident("w")
    pairs = ", ".join(
        f"{literal(model.fields[k].column)}, {w}.{ident(model.fields[k].column)}" for k in model.identity()
    )
    return (
        f"WITH {w} AS ({write}) SELECT coalesce(json_agg(json_build_object({pairs})), '[]')::text "
        f"AS {ident('keys')} FROM {w}"
    )


def _among(model: Model, written: str, alias: str) -> str:
    """The row is one of those whose keys `written` (a parameter) holds."""
    same = " AND ".join(
        f"{column(alias, model.fields[k].column)} = {ident('k')}.{ident(model.fields[k].column)}"
        for k in model.identity()
    )
    rows = f"json_populate_recordset(NULL::{model_table(model)}, {written}::json)"
    return f"EXISTS (SELECT 1 FROM {rows} AS {ident('k')} WHERE {same})"
