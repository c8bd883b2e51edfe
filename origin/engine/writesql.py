"""The SQL text of writes: INSERT, UPDATE and DELETE statements and the checks that run beside them
(a record is there, a required relation is kept), as `writes` and `compile` describe them.

This is the SQL stage for writes, as `sql` is for reads: the planning modules decide which statements
run, in which order and with which values (`params.Source`s); only here (and in `sql`) does text
become SQL. Names come from the schema through `quoting`; every value is a bind parameter taken
through the `Builder`, in the order the text reads, so `$n` follow each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .params import Bound, Generated, Source
from .quoting import column, ident, literal, table
from .schema import Model, RelationField, ScalarField, Schema
from .sql import Builder, model_table

# The SQL operator of each atomic number update (`increment: n` → `col + n`).
ATOMIC = {"increment": "+", "decrement": "-", "multiply": "*", "divide": "/"}

T = "t"  # the alias of the written table


# --- values and conditions ------------------------------------------------------------------------


def _col(alias: str, f: ScalarField) -> str:
    return column(alias, f.column) if alias else ident(f.column)


def atomic(b: Builder, alias: str, f: ScalarField, op: str, value: Source) -> str:
    """`col + $n` (increment, decrement, multiply, divide)."""
    return f"{_col(alias, f)} {ATOMIC[op]} {b.param(value)}"


def push(b: Builder, alias: str, f: ScalarField, value: Source, *, element: bool) -> str:
    """A list with one element (or a list of them) appended; a NULL list becomes the pushed one."""
    col = _col(alias, f)
    expr = f"array_append({col}, {b.param(value)})" if element else f"{col} || {b.param(value)}"
    return f"coalesce({expr}, {expr})"


def assignments(pairs: Sequence[tuple[ScalarField, str]]) -> str:
    """`SET` text from (field, SQL expression) pairs."""
    return ", ".join(f"{ident(f.column)} = {expr}" for f, expr in pairs)


def to_null(fields: Sequence[ScalarField]) -> list[str]:
    return [f"{ident(f.column)} = NULL" for f in fields]


def set_to(b: Builder, keys: Sequence[tuple[ScalarField, Source]]) -> list[str]:
    return [f"{ident(f.column)} = {b.param(src)}" for f, src in keys]


def touched_at(b: Builder, model: Model) -> list[str]:
    """`@updatedAt` columns set to now: a record a nested connect points elsewhere is updated (a
    disconnect leaves it alone, as Prisma's engine does)."""
    return [
        f"{ident(f.column)} = {b.param(Generated('now', (f.native_type or '').lower()))}"
        for f in model.fields.values()
        if f.updated_at
    ]


def same_record(b: Builder, model: Model, bound: str, alias: str = T) -> str:
    """The row of `model` with the identity of the row bound under `bound`."""
    return " AND ".join(
        f"{_col(alias, model.fields[k])} = {b.param(Bound(bound, model.fields[k].column))}"
        for k in model.identity()
    )


def equal_to(b: Builder, model: Model, keys: dict[str, Source], alias: str = T) -> str:
    return " AND ".join(
        f"{column(alias, model.fields[f].column)} = {b.param(src)}" for f, src in keys.items()
    )


def other_record(b: Builder, model: Model, bound: str, alias: str = T) -> str:
    """Any row of `model` but the one bound under `bound`."""
    return " OR ".join(
        f"{column(alias, model.fields[k].column)} IS DISTINCT FROM "
        f"{b.param(Bound(bound, model.fields[k].column))}"
        for k in model.identity()
    )


def linked(b: Builder, schema: Schema, rel: RelationField, parent: str, alias: str) -> str:
    """The rows of `rel`'s target (as `alias`) related to the bound parent row."""
    owner = schema.models[rel.owner]
    target = schema.models[rel.target]
    joined = rel.joined()
    if joined.kind == "m2m":
        j = ident("j")
        this = b.param(Bound(parent, owner.fields[joined.this_key].column))
        other = column(alias, target.fields[joined.other_key].column)
        return (
            f"EXISTS (SELECT 1 FROM {table(joined.join_schema, joined.join_table)} AS {j} WHERE "
            f"{j}.{ident(joined.this_column)} = {this} AND {j}.{ident(joined.other_column)} = {other})"
        )
    conditions = []
    for mine, theirs in joined.pairs:
        value = b.param(Bound(parent, owner.fields[mine].column))
        conditions.append(f"{column(alias, target.fields[theirs].column)} = {value}")
    return " AND ".join(conditions)


def limited(b: Builder, model: Model, inner: str, limit: Source) -> str:
    """At most `limit` rows where `inner` holds (of alias `l`), chosen by the database."""
    return (
        f"{ident(T)}.ctid IN (SELECT {ident('l')}.ctid FROM {model_table(model)} AS {ident('l')} "
        f"WHERE {inner} LIMIT {b.param(limit)})"
    )


def both(first: str, second: str) -> str:
    return f"{first} AND {second}"


def any_of(conditions: Sequence[str]) -> str:
    """`(a OR b …)`; none is FALSE."""
    return "(" + (" OR ".join(conditions) or "FALSE") + ")"


# --- statements -----------------------------------------------------------------------------------


def insert(model: Model, assigned: Sequence[tuple[ScalarField, str]]) -> str:
    into = model_table(model)
    if not assigned:
        return f"INSERT INTO {into} DEFAULT VALUES RETURNING *"
    cols = ", ".join(ident(f.column) for f, _ in assigned)
    vals = ", ".join(v for _, v in assigned)
    return f"INSERT INTO {into} ({cols}) VALUES ({vals}) RETURNING *"


def insert_many(
    model: Model,
    columns: Sequence[ScalarField],
    rows: Sequence[dict[str, str]],
    *,
    skip_duplicates: bool,
    returning: bool,
) -> str:
    """Rows given as {field name: SQL expression}; a column a row leaves out is its DEFAULT."""
    target = model_table(model)
    if not rows:
        # Nothing to insert: no row, and (for createManyAndReturn) an empty list.
        return f"SELECT * FROM {target} WHERE FALSE"
    if not columns:
        sql = f"INSERT INTO {target} SELECT FROM generate_series(1, {len(rows)})"
    else:
        values = ", ".join("(" + ", ".join(r.get(c.name, "DEFAULT") for c in columns) + ")" for r in rows)
        sql = f"INSERT INTO {target} ({', '.join(ident(c.column) for c in columns)}) VALUES {values}"
    if skip_duplicates:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING *"
    return sql


def insert_join_row(b: Builder, schema: Schema, rel: RelationField, parent: str, child: str) -> str:
    """A many-to-many join row between two bound records (none when it is there already)."""
    joined = rel.joined()
    owner = schema.models[rel.owner]
    target = schema.models[rel.target]
    this = b.param(Bound(parent, owner.fields[joined.this_key].column))
    other = b.param(Bound(child, target.fields[joined.other_key].column))
    return (
        f"INSERT INTO {table(joined.join_schema, joined.join_table)} "
        f"({ident(joined.this_column)}, {ident(joined.other_column)}) VALUES ({this}, {other}) "
        "ON CONFLICT DO NOTHING"
    )


def delete_join_rows(
    b: Builder,
    schema: Schema,
    rel: RelationField,
    parent: str,
    named: Callable[[], list[str]] | None = None,
) -> str:
    """The many-to-many join rows of the bound parent; with `named`, only those to the target rows
    (alias `t`) one of whose conditions holds (rendered after the parent's parameter)."""
    joined = rel.joined()
    owner = schema.models[rel.owner]
    target = schema.models[rel.target]
    j = ident("j")
    this = b.param(Bound(parent, owner.fields[joined.this_key].column))
    sql = (
        f"DELETE FROM {table(joined.join_schema, joined.join_table)} AS {j} "
        f"WHERE {j}.{ident(joined.this_column)} = {this}"
    )
    if named is not None:
        conds = named()
        key = column(T, target.fields[joined.other_key].column)
        sql += (
            f" AND {j}.{ident(joined.other_column)} IN (SELECT {key} "
            f"FROM {model_table(target)} AS {ident(T)} WHERE {' OR '.join(conds)})"
        )
    return sql


def update(model: Model, sets: str, where: str, *, aliased: bool = True, returning: str = "") -> str:
    """`returning`: "row" (the updated row), "one" (1, to tell whether a row was there) or ""."""
    t = ident(T)
    head = f"UPDATE {model_table(model)} AS {t}" if aliased else f"UPDATE {model_table(model)}"
    sql = f"{head} SET {sets} WHERE {where}"
    return sql + _returning(returning)


def delete(model: Model, where: str, *, returning: str = "") -> str:
    return f"DELETE FROM {model_table(model)} AS {ident(T)} WHERE {where}" + _returning(returning)


def _returning(kind: str) -> str:
    return {"": "", "row": f" RETURNING {ident(T)}.*", "one": " RETURNING 1"}[kind]


def select_row(model: Model, where: str, *, for_update: bool = False) -> str:
    """The first row where `where` holds (locked for the update that follows, with `for_update`)."""
    sql = f"SELECT * FROM {model_table(model)} AS {ident(T)} WHERE {where} LIMIT 1"
    return sql + " FOR UPDATE" if for_update else sql


def select_written_row(model: Model, where: str) -> str:
    """An update that sets nothing reads the row it would have updated."""
    t = ident(T)
    return f"SELECT {t}.* FROM {model_table(model)} AS {t} WHERE {where} LIMIT 1"


def exists(model: Model, where: str, *, first: bool = False) -> str:
    """A row (`SELECT 1`) when one of `model` is where `where` holds."""
    sql = f"SELECT 1 FROM {model_table(model)} AS {ident(T)} WHERE {where}"
    return sql + " LIMIT 1" if first else sql


def count_differs(b: Builder, model: Model, records: Sequence[str], expected: Source) -> str:
    """A row when the rows of `model` among the bound `records` are not as many as `expected`."""
    keys = [model.fields[k] for k in model.identity()]
    each = " OR ".join(
        "(" + " AND ".join(f"{column(T, f.column)} = {b.param(Bound(record, f.column))}" for f in keys) + ")"
        for record in records
    )
    count = f"(SELECT count(*) FROM {model_table(model)} AS {ident(T)} WHERE {each})"
    return f"SELECT 1 WHERE {count} <> {b.param(expected)}::bigint"


def no_row_binding(model: Model, where: str) -> str:
    """No row, ever, from a statement that still binds `where`'s values (so a bad one is refused)."""
    inner = f"SELECT 1 FROM {model_table(model)} AS {ident(T)} WHERE FALSE AND {where}"
    return f"SELECT 1 WHERE NOT EXISTS ({inner})"


def with_written(write: str, body: str) -> str:
    """`WITH w AS (<write> RETURNING *) <body over w>`: a write and its result in one statement."""
    return f"WITH {ident('w')} AS ({write}) {body}"


def written_keys(model: Model, write: str) -> str:
    """A many-row write, answering the identities of the rows it wrote as one JSON array (`keys`)."""
    w = ident("w")
    pairs = ", ".join(
        f"{literal(model.fields[k].column)}, {w}.{ident(model.fields[k].column)}" for k in model.identity()
    )
    return (
        f"WITH {w} AS ({write}) SELECT coalesce(json_agg(json_build_object({pairs})), '[]')::text "
        f"AS {ident('keys')} FROM {w}"
    )


def among_written(model: Model, written: str) -> Callable[[str], str]:
    """A read's condition: the row is one of those whose keys `written` (a parameter) holds."""
    table_sql = model_table(model)

    def condition(alias: str) -> str:
        same = " AND ".join(
            f"{column(alias, model.fields[k].column)} = {ident('k')}.{ident(model.fields[k].column)}"
            for k in model.identity()
        )
        rows = f"json_populate_recordset(NULL::{table_sql}, {written}::json)"
        return f"EXISTS (SELECT 1 FROM {rows} AS {ident('k')} WHERE {same})"

    return condition


def unchanged(model: Model) -> str:
    """A SET that changes nothing (an updateMany with no data still counts the rows it matched)."""
    return ", ".join(
        f"{ident(f.column)} = {ident(T)}.{ident(f.column)}" for f in list(model.fields.values())[:1]
    )


WRITTEN = ident("w")  # the rows a write returned, in `with_written`
