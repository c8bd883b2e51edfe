"""Plans as SQL text with `$n` bind parameters. Values never enter the text; names come from the
schema through `quoting`.

Results are built as JSON inside Postgres: each record is a `json_build_object` whose values are
already in the JSON protocol's shape (tagged BigInt/DateTime/Decimal/Bytes/Json, enum names), and
relations are correlated subqueries aggregated with `json_agg`, so a query with nested includes is
one statement and one round trip, and the result text can go to the client as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .nodes import (
    ORDERING,
    AggregatePlan,
    All,
    Any_,
    Compare,
    Constant,
    Filter,
    GroupByPlan,
    Negate,
    Op,
    Order,
    ReadPlan,
    Related,
    RelationCount,
    Selection,
)
from .params import Source
from .quoting import column, ident, literal, table
from .schema import Model, RelationField, ScalarField, Schema

# `take: 0` is answered without reading the table, as Prisma's engine answers it.
NOTHING_READ = "SELECT NULL"

# json_build_object takes at most 100 arguments (FUNC_MAX_ARGS).
_MAX_PAIRS = 50


@dataclass
class Builder:
    schema: Schema
    sources: list[Source] = field(default_factory=list)
    aliases: int = 0

    def param(self, source: Source) -> str:
        self.sources.append(source)
        return f"${len(self.sources)}"

    def alias(self) -> str:
        name = f"t{self.aliases}"
        self.aliases += 1
        return name


def model_table(model: Model) -> str:
    return table(model.schema, model.table)


# --- values -------------------------------------------------------------------------------------


def _datetime_text(expr: str, native: str) -> str:
    if native.startswith("time") and not native.startswith("timestamp"):
        # A time of day is reported on 1970-01-01, as Prisma does.
        moment = f"('1970-01-01'::date + ({expr})::time)"
        return f'to_char({moment}, \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    if native.startswith("timestamptz"):
        moment = f"({expr} AT TIME ZONE 'UTC')"
    else:
        moment = f"({expr})::timestamp"
    iso = f'to_char({moment}, \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    # ±infinity and BC dates have no ISO form: Postgres's own text, which the client reads as an
    # invalid date, as Prisma's driver has them.
    return f"(CASE WHEN isfinite({expr}) AND {expr} >= '0001-01-01' THEN {iso} ELSE ({expr})::text END)"


def _finite(expr: str) -> str:
    # NaN and the infinities are not JSON numbers (Postgres's JSON has them as strings): null, as
    # Prisma's engine reads them through its driver.
    return f"NULLIF(NULLIF(NULLIF({expr}, 'NaN'), 'Infinity'), '-Infinity')"


def _tagged(tag: str, text: str) -> str:
    return f"json_build_object('$type', {literal(tag)}, 'value', {text})"


def scalar_json(schema: Schema, f: ScalarField, expr: str) -> str:
    """An SQL expression giving the JSON-protocol value of field `f` held in `expr`."""
    if f.is_list:
        element = ScalarField(f.name, f.column, f.type, native_type=f.native_type, is_enum=f.is_enum)
        inner = scalar_json(schema, element, "u.x")
        # A list field is never null for Prisma: a NULL array reads as [].
        if inner == "u.x":
            return f"coalesce(to_json({expr}), '[]'::json)"
        return (
            f"coalesce((SELECT json_agg({inner} ORDER BY u.o) "
            f"FROM unnest({expr}) WITH ORDINALITY AS u(x, o)), '[]'::json)"
        )
    native = (f.native_type or "").lower()
    text: str | None = None
    tag = f.type
    if f.is_enum:
        enum = schema.enums.get(f.type)
        if enum is not None and enum.mapped:
            cases = " ".join(f"WHEN {literal(v.db_name)} THEN {literal(v.name)}" for v in enum.values)
            return f"(CASE ({expr})::text {cases} END)"
        return f"({expr})::text"
    if f.type == "BigInt":
        text = f"({expr})::text"
    elif f.type == "DateTime":
        text = _datetime_text(expr, native)
    elif f.type == "Decimal":
        text = f"trim_scale({expr})::text"
    elif f.type == "Json":
        text = f"({expr})::text"
    elif f.type == "Bytes":
        text = f"translate(encode({expr}, 'base64'), E'\\n', '')"
    elif f.type == "Float":
        keeps = native in ("", "doubleprecision", "float8", "real", "float4")
        return _finite(expr if keeps else f"({expr})::float8")
    if text is None:
        return expr
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE {_tagged(tag, text)} END"


def json_object(pairs: list[tuple[str, str]]) -> str:
    if len(pairs) <= _MAX_PAIRS:
        return "json_build_object(" + ", ".join(f"{literal(k)}, {v}" for k, v in pairs) + ")"
    chunks = [pairs[i : i + _MAX_PAIRS] for i in range(0, len(pairs), _MAX_PAIRS)]
    merged = " || ".join(f"({json_object(c)})::jsonb" for c in chunks)
    return f"({merged})::json"


# --- joins --------------------------------------------------------------------------------------


def link(schema: Schema, relation: RelationField, parent: str, child: str) -> str:
    """The condition joining rows of `relation`'s target (alias `child`) to the parent row."""
    joined = relation.joined()
    owner = schema.models[relation.owner]
    target = schema.models[relation.target]
    if joined.kind == "m2m":
        j = ident("j")
        return (
            f"EXISTS (SELECT 1 FROM {table(joined.join_schema, joined.join_table)} AS {j} "
            f"WHERE {j}.{ident(joined.this_column)} = {column(parent, owner.fields[joined.this_key].column)} "
            f"AND {j}.{ident(joined.other_column)} = {column(child, target.fields[joined.other_key].column)})"
        )
    return " AND ".join(
        f"{column(child, target.fields[other].column)} = {column(parent, owner.fields[this].column)}"
        for this, other in joined.pairs
    )


# --- filters ------------------------------------------------------------------------------------


def render_filter(b: Builder, f: Filter, alias: str, reverse: bool = False) -> str:
    """`f` as an SQL condition on the row `alias`. `reverse`: under a NOT, which Prisma's engine
    carries down to every filter below (into relations too; `isNot` turns it again): a typed Json
    filter there is written so that the NOT leaves the type test standing."""
    if isinstance(f, All):
        if not f.items:
            return "TRUE"
        return "(" + " AND ".join(render_filter(b, i, alias, reverse) for i in f.items) + ")"
    if isinstance(f, Any_):
        if not f.items:
            return "FALSE"
        return "(" + " OR ".join(render_filter(b, i, alias, reverse) for i in f.items) + ")"
    if isinstance(f, Negate):
        if isinstance(f.item, Negate):
            return render_filter(b, f.item.item, alias, reverse)  # NOT NOT: as written
        return f"(NOT {render_filter(b, f.item, alias, not reverse)})"
    if isinstance(f, Constant):
        return "TRUE" if f.value else "FALSE"
    if isinstance(f, Compare):
        return _compare(b, f, alias, reverse)
    if isinstance(f, Related):
        child = b.alias()
        target = model_table(f.model)
        joined = link(b.schema, f.relation, alias, child)
        inner = render_filter(b, f.inner, child, reverse != (f.kind == "isNot"))
        head = f"SELECT 1 FROM {target} AS {ident(child)} WHERE {joined}"
        if f.kind in ("is", "isNot"):
            # As Prisma's engine joins a to-one relation: no related record is false for `is` and
            # true for `isNot`; otherwise the condition's own value, NULL included (so a NOT around
            # it keeps the row out, as in SQL).
            value = f"(SELECT ({inner}) FROM {target} AS {ident(child)} WHERE {joined} LIMIT 1)"
            if f.kind == "isNot":
                value = f"(NOT {value})"
            other = b.alias()
            again = link(b.schema, f.relation, alias, other)
            exists = f"EXISTS (SELECT 1 FROM {target} AS {ident(other)} WHERE {again})"
            return f"(CASE WHEN {exists} THEN {value} ELSE {'FALSE' if f.kind == 'is' else 'TRUE'} END)"
        if f.kind == "some":
            return f"EXISTS ({head} AND {inner})"
        if f.kind == "none":
            return f"NOT EXISTS ({head} AND {inner})"
        # every: no related row for which the condition is false (a NULL does not count against it).
        return f"NOT EXISTS ({head} AND NOT ({inner}))"
    raise TypeError(f"unknown filter {f!r}")


def render_write_filter(b: Builder, f: Filter, alias: str, reverse: bool = False) -> str:
    """The condition of an UPDATE or DELETE as Prisma's engine writes it. With no join to the
    related table there, a to-one relation filter at the top (through AND / OR / NOT) is an EXISTS
    over it (`isNot`: NOT EXISTS), so `isNot` also holds where the related row's condition is NULL;
    below that, and for every other filter, as reads have it."""
    if isinstance(f, All | Any_) and f.items:
        glue = " AND " if isinstance(f, All) else " OR "
        return "(" + glue.join(render_write_filter(b, i, alias, reverse) for i in f.items) + ")"
    if isinstance(f, Negate) and _has_to_one(f.item):
        if isinstance(f.item, Negate):
            return render_write_filter(b, f.item.item, alias, reverse)  # NOT NOT: as written
        return f"(NOT {render_write_filter(b, f.item, alias, not reverse)})"
    if isinstance(f, Related) and f.kind in ("is", "isNot"):
        child = b.alias()
        joined = link(b.schema, f.relation, alias, child)
        inner = render_filter(b, f.inner, child, reverse)
        exists = f"EXISTS (SELECT 1 FROM {model_table(f.model)} AS {ident(child)} WHERE {inner} AND {joined})"
        return exists if f.kind == "is" else f"(NOT {exists})"
    return render_filter(b, f, alias, reverse)


def _has_to_one(f: Filter) -> bool:
    if isinstance(f, All | Any_):
        return any(_has_to_one(i) for i in f.items)
    if isinstance(f, Negate):
        return _has_to_one(f.item)
    return isinstance(f, Related) and f.kind in ("is", "isNot")


_AGG_SQL = {"_count": "count", "_avg": "avg", "_sum": "sum", "_min": "min", "_max": "max"}


def _json_column(b: Builder, c: Compare, alias: str) -> str:
    col = column(alias, c.field.column)
    if c.json_path is not None:
        return f"({col}::jsonb #> {b.param(c.json_path)}::text[])"
    return f"{col}::jsonb"


def _compare(b: Builder, c: Compare, alias: str, reverse: bool = False) -> str:
    col = column(alias, c.field.column)
    if c.aggregate:
        col = f"{_AGG_SQL[c.aggregate]}({col})"
    json = c.field.type == "Json" and not c.field.is_list
    if json and (c.json_path is not None or c.op not in (Op.IS_NULL, Op.NOT_NULL)):
        col = _json_column(b, c, alias)
    op = c.op
    if op == Op.IS_NULL:
        return f"{col} IS NULL"
    if op == Op.NOT_NULL:
        return f"{col} IS NOT NULL"
    if op == Op.IS_EMPTY:
        return f"cardinality({col}) = 0"
    if op == Op.NOT_EMPTY:
        return f"cardinality({col}) > 0"
    if c.other is not None:
        other = column(alias, c.other.column)
        assert op in ORDERING, op
        return f"{col} {op} {other}"
    assert c.value is not None
    if json:
        test, kind = _json_parts(b, c, col, alias)
        if not kind:
            return test
        return f"({test} OR NOT ({kind}))" if reverse else f"({test} AND {kind})"
    if op == Op.SEARCH:
        # The SQL Prisma's engine sends for `search`: the column as a tsvector against a tsquery.
        return f"to_tsvector(concat_ws(' ', {col})) @@ to_tsquery({b.param(c.value)})"
    if c.insensitive:
        if op == Op.LIKE:
            return f"{col} ILIKE {b.param(c.value)}"
        if op == Op.IN:
            return f"lower({col}) = ANY(SELECT lower(x) FROM unnest({b.param(c.value)}::text[]) AS x)"
        if op == Op.NOT_IN:
            return f"lower({col}) <> ALL(SELECT lower(x) FROM unnest({b.param(c.value)}::text[]) AS x)"
        # Prisma's engine: (not) equals is the value as an ILIKE pattern, as sent (its % and _ are
        # wildcards; a char(n) column keeps its padding); the orderings compare lower() of both.
        if op == Op.EQ:
            return f"{col} ILIKE {b.param(c.value)}"
        if op == Op.NE:
            return f"{col} NOT ILIKE {b.param(c.value)}"
        assert op in ORDERING, op
        return f"lower({col}) {op} lower({b.param(c.value)})"
    if op == Op.LIKE:
        return f"{col} LIKE {b.param(c.value)}"
    if op == Op.IN:
        return f"{col} = ANY({b.param(c.value)})"
    if op == Op.NOT_IN:
        return f"{col} <> ALL({b.param(c.value)})"
    if op == Op.HAS:
        return f"{b.param(c.value)} = ANY({col})"
    if op == Op.HAS_EVERY:
        return f"{col} @> {b.param(c.value)}"
    if op == Op.HAS_SOME:
        return f"{col} && {b.param(c.value)}"
    assert op in ORDERING, op
    return f"{col} {op} {b.param(c.value)}"


def _json_parts(b: Builder, c: Compare, col: str, alias: str) -> tuple[str, str]:
    """A Json filter as Prisma's engine has it: the test, and the JSON type the value must have
    ("" when any). Apart because NOT negates only the test: `NOT {path, string_contains}` still
    wants a string (a number there matches neither the filter nor its negation)."""
    op = c.op
    assert c.value is not None
    if op == Op.JSON_LIKE:
        # Without a path the text is the JSON text, quotes and all, as Prisma's engine reads it.
        text = (
            f"({column(alias, c.field.column)}::jsonb #>> {b.param(c.json_path)}::text[])"
            if c.json_path
            else f"{col}::text"
        )
        like = "ILIKE" if c.insensitive else "LIKE"
        return f"{text} {like} {b.param(c.value)}", f"jsonb_typeof({col}) = 'string'"
    if op == Op.IN:
        return f"{col} = ANY({b.param(c.value)}::jsonb[])", ""
    if op == Op.NOT_IN:
        return f"{col} <> ALL({b.param(c.value)}::jsonb[])", ""
    # Each operator binds its value once: a parameter the SQL never uses has no type Postgres could
    # infer (42P18).
    value = f"{b.param(c.value)}::jsonb"
    if op in (Op.EQ, Op.NE):
        return f"{col} {op} {value}", ""
    if op in (Op.LT, Op.LTE, Op.GT, Op.GTE):
        return f"{col} {op} {value}", f"jsonb_typeof({col}) = jsonb_typeof({value})"
    if op == Op.ARRAY_CONTAINS:
        return f"{col} @> {value}", f"jsonb_typeof({col}) = 'array'"
    if op == Op.ARRAY_STARTS_WITH:
        return f"{col} -> 0 = {value}", f"jsonb_typeof({col}) = 'array'"
    if op == Op.ARRAY_ENDS_WITH:
        return f"{col} -> -1 = {value}", f"jsonb_typeof({col}) = 'array'"
    raise TypeError(op)


# --- order --------------------------------------------------------------------------------------


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
        return f"{_AGG_SQL[o.aggregate]}({column(alias, o.field.column)})"
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


# --- selections ---------------------------------------------------------------------------------


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
        loose, position, found = _distinct_cursor(b, read, alias)
        conditions += [loose] if loose else []
        after_distinct = [position, f"{ident(alias)}.__bw_has"]
    elif read.cursor_where is not None:
        conditions.append(_cursor(b, read, alias, parent))
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


def _cursor(b: Builder, read: ReadPlan, alias: str, parent: str = "", *, in_memory: bool = True) -> str:
    """The rows of a page from a cursor, as Prisma's engine selects them.

    Its SQL keeps rows by a loose test over the client's order terms (a NULL on either side of a
    nullable field matches). Over a stable order (`_stable`) that is all. Otherwise, and for nested
    lists, it pages in memory: the page starts at the cursor record among the rows found (none if it
    is not among them), which is the rows at or after it in the order, NULLs placed as ORDER BY
    places them. Without an order it is the id order, from the cursor on (paged in memory too when
    the id is compound).
    """
    assert read.cursor_where is not None
    cursor_where = read.cursor_where
    table_sql = model_table(read.model)

    def at_cursor(term: Order) -> str:
        c = b.alias()
        found = render_filter(b, cursor_where, c)
        value = _term_expr(b, term, c, read.model)
        return f"(SELECT {value} FROM {table_sql} AS {ident(c)} WHERE {found} LIMIT 1)"

    terms = reversed_order(read.order) if read.reverse else read.order
    client = [o for o in terms if not o.implicit] if read.client_order else []
    # `distinct` beside a cursor is done in memory by Prisma's engine, and the page with it.
    paged_in_memory = in_memory and (read.relation is not None or bool(read.distinct))
    if client and _stable(read.model, client) and not paged_in_memory:
        return _loose_all(b, client, alias, read.model, at_cursor)
    exists_alias = b.alias()
    found = render_filter(b, cursor_where, exists_alias)
    if in_memory and read.relation is not None and parent:
        found += f" AND {link(b.schema, read.relation, parent, exists_alias)}"
    if (
        in_memory
        and read.filter is not None
        and (paged_in_memory or client or not _stable(read.model, terms))
    ):
        found += f" AND {render_filter(b, read.filter, exists_alias)}"
    if in_memory and client:
        # The cursor record is among the rows found only if it passes the loose test itself (a NULL
        # through an optional relation fails it).
        found += f" AND {_loose_all(b, client, exists_alias, read.model, at_cursor)}"
    exists = f"EXISTS (SELECT 1 FROM {table_sql} AS {ident(exists_alias)} WHERE {found})"
    if not terms:
        return exists
    ors = []
    for i, term in enumerate(terms):
        ands = [_same(b, p, alias, read.model, at_cursor(p)) for p in terms[:i]]
        ands.append(_after(b, term, alias, read.model, at_cursor(term)))
        ors.append("(" + " AND ".join(ands) + ")")
    ors.append("(" + " AND ".join(_same(b, p, alias, read.model, at_cursor(p)) for p in terms) + ")")
    position = f"({' OR '.join(ors)})"
    if not client:
        return f"({exists} AND {position})"
    return f"({exists} AND {position} AND {_loose_all(b, client, alias, read.model, at_cursor)})"


def _distinct_cursor(b: Builder, read: ReadPlan, alias: str) -> tuple[str, str, str]:
    """A cursor beside `distinct`, in three parts: the loose test of the rows found ("" when there
    is no order of the client's), the position at or after the cursor record, and the test that a
    row is the cursor record."""
    assert read.cursor_where is not None
    cursor_where = read.cursor_where
    table_sql = model_table(read.model)

    def at_cursor(term: Order) -> str:
        c = b.alias()
        found = render_filter(b, cursor_where, c)
        value = _term_expr(b, term, c, read.model)
        return f"(SELECT {value} FROM {table_sql} AS {ident(c)} WHERE {found} LIMIT 1)"

    terms = reversed_order(read.order) if read.reverse else read.order
    client = [o for o in terms if not o.implicit] if read.client_order else []
    loose = _loose_all(b, client, alias, read.model, at_cursor) if client else ""
    ors = []
    for i, term in enumerate(terms):
        ands = [_same(b, p, alias, read.model, at_cursor(p)) for p in terms[:i]]
        ands.append(_after(b, term, alias, read.model, at_cursor(term)))
        ors.append("(" + " AND ".join(ands) + ")")
    if terms:
        ors.append("(" + " AND ".join(_same(b, p, alias, read.model, at_cursor(p)) for p in terms) + ")")
    position = f"({' OR '.join(ors)})" if ors else "TRUE"
    return loose, position, render_filter(b, cursor_where, alias)


def _stable(model: Model, terms: list[Order]) -> bool:
    """An order Prisma's engine pages in SQL: one of its plain fields is unique, and no term can be
    NULL (a nullable field, or one reached through an optional relation; a relation's `_count` never
    is). Otherwise it pages in memory."""
    if any(o.aggregate or (o.field is None and o.count_of is None and o.relevance is None) for o in terms):
        return False
    for o in terms:
        if o.field is not None and (not o.field.required or any(not r.required for r in o.path)):
            return False
    names = {o.field.name for o in terms if o.field is not None and not o.path and o.count_of is None}
    # A unique key of one field: a compound one (`@@id([a, b])`) does not make it stable to Prisma.
    return any(len(c) == 1 and c[0] in names and model.fields[c[0]].required for c in model.unique_criteria())


def _loose_all(
    b: Builder, client: list[Order], alias: str, model: Model, at_cursor: Callable[[Order], str]
) -> str:
    """Prisma's engine's own cursor test in SQL (it leaves out rows where a related record is
    missing: it tests a NULL of an optional relation's required field as if it could not be NULL)."""
    loose = []
    for i, term in enumerate(client):
        ands = [_loose(b, p, alias, model, "=", at_cursor(p)) for p in client[:i]]
        last = i == len(client) - 1
        op = (">=" if last else ">") if not term.descending else ("<=" if last else "<")
        ands.append(_loose(b, term, alias, model, op, at_cursor(term)))
        loose.append("(" + " AND ".join(ands) + ")")
    return f"({' OR '.join(loose)})"


def _loose(b: Builder, o: Order, alias: str, model: Model, op: str, cursor_value: str) -> str:
    mine = _term_expr(b, o, alias, model)
    field_nullable = o.count_of is None and o.field is not None and not o.field.required
    test = f"{mine} {op} {cursor_value}"
    if field_nullable:
        test = f"({test} OR {mine} IS NULL OR {cursor_value} IS NULL)"
    if op != "=" and o.path and o.path[0].joined().kind == "fk_here":
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
    beyond = f"{mine} {'<' if o.descending else '>'} {cursor_value}"
    if not _nullable(o):
        return beyond
    nulls_last = o.nulls == "last" or (not o.nulls and not o.descending)
    if nulls_last:
        return f"({cursor_value} IS NOT NULL AND ({mine} IS NULL OR {beyond}))"
    return f"({mine} IS NOT NULL AND ({cursor_value} IS NULL OR {beyond}))"


# --- statements ---------------------------------------------------------------------------------


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


def _aggregate_value(b: Builder, op: str, f: ScalarField | None, src: str) -> str:
    if f is None:
        return "count(*)"
    col = column(src, f.column)
    if op == "_count":
        return f"count({col})"
    if op == "_avg":
        if f.type == "Decimal":
            return scalar_json(b.schema, f, f"avg({col})")
        return _finite(f"avg({col})::float8")
    if op == "_sum":
        if f.type in ("Int",):
            return f"sum({col})"
        if f.type == "Float":
            # A sum of float4 stays float4, which JSON prints at its shortest (as Prisma's engine reads it).
            return _finite(f"sum({col})")
        return scalar_json(b.schema, f, f"sum({col})")
    return scalar_json(b.schema, f, f"{_AGG_SQL[op]}({col})")


def render_aggregate(b: Builder, agg: AggregatePlan) -> str:
    alias = b.alias()
    read = agg.read
    conditions = []
    if read.filter is not None:
        conditions.append(render_filter(b, read.filter, alias))
    if read.cursor_where is not None:
        # Aggregates page in SQL alone (no in-memory step that needs the cursor record in the rows).
        conditions.append(_cursor(b, read, alias, in_memory=False))
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
