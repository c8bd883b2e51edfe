"""A `nodes.Filter` as an SQL condition on a row: AND/OR/NOT, the comparisons of a field (one
branch per `nodes.Op`; Json and scalar-list operators included) and relation filters as correlated
EXISTS subqueries; and the condition of an UPDATE or DELETE, which Prisma's engine writes apart."""

from __future__ import annotations

from .nodes import ORDERING, All, Any_, Compare, Constant, Filter, Negate, Op, Related
from .quoting import column, ident
from .sqlbuilder import AGGREGATE_SQL, Builder, link, model_table


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


def write_condition(b: Builder, f: Filter | None, alias: str) -> str:
    """The condition of an UPDATE or DELETE (`render_write_filter`); every row without a filter."""
    return render_write_filter(b, f, alias) if f is not None else "TRUE"


def _has_to_one(f: Filter) -> bool:
    if isinstance(f, All | Any_):
        return any(_has_to_one(i) for i in f.items)
    if isinstance(f, Negate):
        return _has_to_one(f.item)
    return isinstance(f, Related) and f.kind in ("is", "isNot")


def _json_column(b: Builder, c: Compare, alias: str) -> str:
    col = column(alias, c.field.column)
    if c.json_path is not None:
        return f"({col}::jsonb #> {b.param(c.json_path)}::text[])"
    return f"{col}::jsonb"


def _compare(b: Builder, c: Compare, alias: str, reverse: bool = False) -> str:
    col = column(alias, c.field.column)
    if c.aggregate:
        col = f"{AGGREGATE_SQL[c.aggregate]}({col})"
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
