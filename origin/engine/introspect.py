"""A schema model from a live database's catalog: tables of `public`, their columns, keys, enums and
foreign keys (which become relations on both sides), and implicit many-to-many join tables (`_AToB`).

Names follow the database: a model is named for its table and a field for its column. A foreign key
gives the referencing model a to-one field named for the column without its `_id`/`Id` suffix (else
for the referenced table), and the referenced model a list field named for the referencing table.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import asyncpg

from .schema import Default, Enum, EnumValue, Model, RelationField, ScalarField, Schema, SchemaModelError

_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name, a.attnum,
       t.typname, t.typtype::text AS typtype, et.typname AS elem_typname, et.typtype::text AS elem_typtype,
       a.attnotnull, a.atthasdef OR a.attidentity <> '' AS has_default,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attidentity <> '' AS identity,
       format_type(a.atttypid, a.atttypmod) AS native
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v')
ORDER BY c.relname, a.attnum
"""

_KEYS = """
SELECT c.relname AS table_name, i.indisprimary, i.indisunique,
       array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND (i.indisprimary OR i.indisunique) AND i.indpred IS NULL AND i.indexprs IS NULL
ORDER BY c.relname, i.indisprimary DESC, i.indexrelid
"""

_FOREIGN_KEYS = """
SELECT con.conname, src.relname AS table_name, dst.relname AS target_table,
       con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS refs
FROM pg_constraint con
JOIN pg_class src ON src.oid = con.conrelid
JOIN pg_class dst ON dst.oid = con.confrelid
JOIN pg_namespace n ON n.oid = src.relnamespace
WHERE n.nspname = $1 AND con.contype = 'f'
ORDER BY src.relname, con.conname
"""

_ENUMS = """
SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = $1 GROUP BY t.typname
"""

_TYPES = {
    "int2": "Int",
    "int4": "Int",
    "int8": "BigInt",
    "float4": "Float",
    "float8": "Float",
    "numeric": "Decimal",
    "money": "Decimal",
    "text": "String",
    "varchar": "String",
    "bpchar": "String",
    "uuid": "String",
    "citext": "String",
    "name": "String",
    "xml": "String",
    "inet": "String",
    "bool": "Boolean",
    "timestamp": "DateTime",
    "timestamptz": "DateTime",
    "date": "DateTime",
    "time": "DateTime",
    "timetz": "DateTime",
    "json": "Json",
    "jsonb": "Json",
    "bytea": "Bytes",
}
_ACTIONS = {"a": "NoAction", "r": "Restrict", "c": "Cascade", "n": "SetNull", "d": "SetDefault"}
_JOIN_TABLE = re.compile(r"^_(?P<name>.+)$")


async def introspect(conn: asyncpg.Connection, schema: str = "public") -> Schema:
    """The schema model of the database `conn` is connected to.

    Name resolution is pinned to the catalog meanwhile: the tenant's own operators and functions (a
    `public.=` ahead of pg_catalog on its search_path) must not run inside, or steer, these queries."""
    async with _catalog_names(conn):
        return await _introspect(conn, schema)


@contextlib.asynccontextmanager
async def _catalog_names(conn: asyncpg.Connection) -> AsyncIterator[None]:
    saved = await conn.fetchval("SELECT pg_catalog.current_setting('search_path')")
    await conn.execute("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)")
    try:
        yield
    finally:
        # In an aborted transaction the rollback undoes the change by itself.
        if not conn.is_closed():
            with contextlib.suppress(asyncpg.InFailedSQLTransactionError):
                await conn.execute("SELECT pg_catalog.set_config('search_path', $1, false)", saved)


async def _introspect(conn: asyncpg.Connection, schema: str) -> Schema:
    result = Schema()
    for row in await conn.fetch(_ENUMS, schema):
        result.enums[row["typname"]] = Enum(
            row["typname"], row["typname"], [EnumValue(v, v) for v in row["labels"]]
        )
    columns = await conn.fetch(_COLUMNS, schema)
    keys: dict[str, list[tuple[bool, tuple[str, ...]]]] = {}
    for row in await conn.fetch(_KEYS, schema):
        keys.setdefault(row["table_name"], []).append((row["indisprimary"], tuple(row["columns"])))
    foreign = await conn.fetch(_FOREIGN_KEYS, schema)
    join_tables = _join_tables(columns, foreign)
    for row in columns:
        if row["table_name"] in join_tables:
            continue
        is_list = row["elem_typname"] is not None
        typname = row["elem_typname"] if is_list else row["typname"]
        typtype = row["elem_typtype"] if is_list else row["typtype"]
        scalar = typname if typtype == "e" else _TYPES.get(typname)
        if scalar is None:
            continue  # a column type the engine cannot represent is left out of the model
        model = result.models.setdefault(
            row["table_name"], Model(row["table_name"], row["table_name"], schema)
        )
        column = row["column_name"]
        default = None
        expr = row["default_expr"] or ""
        if row["identity"] or expr.startswith("nextval("):
            default = Default("autoincrement")
        elif row["has_default"]:
            default = Default("database", expr)
        model.fields[column] = ScalarField(
            name=column,
            column=column,
            type=scalar,
            required=bool(row["attnotnull"]),
            is_list=is_list,
            default=default,
            native_type=typname,
            is_enum=typtype == "e",
        )
    for table_name, indexes in keys.items():
        found = result.models.get(table_name)
        if found is None:
            continue
        for primary, cols in indexes:
            if not all(c in found.fields for c in cols):
                continue
            if primary:
                found.primary_key = cols
            elif cols not in found.unique_sets:
                found.unique_sets.append(cols)
            if len(cols) == 1:
                f = found.fields[cols[0]]
                found.fields[cols[0]] = ScalarField(
                    **{**f.__dict__, "is_id": primary or f.is_id, "is_unique": True}
                )
    _relations(result, foreign, join_tables)
    try:
        return result.finish()
    except SchemaModelError:
        # A relation the model cannot express is dropped rather than failing every query.
        for model in result.models.values():
            model.relations = {k: r for k, r in model.relations.items() if r.link is not None}
        return result


def _join_tables(columns: list[asyncpg.Record], foreign: list[asyncpg.Record]) -> dict[str, tuple[str, str]]:
    """Implicit many-to-many tables: `_Name` with exactly columns A and B, each a foreign key."""
    by_table: dict[str, set[str]] = {}
    for row in columns:
        by_table.setdefault(row["table_name"], set()).add(row["column_name"])
    found = {}
    for table_name, cols in by_table.items():
        if not _JOIN_TABLE.match(table_name) or cols != {"A", "B"}:
            continue
        targets = {tuple(r["columns"]): r["target_table"] for r in foreign if r["table_name"] == table_name}
        if ("A",) in targets and ("B",) in targets:
            found[table_name] = (targets[("A",)], targets[("B",)])
    return found


def _field_name(model: Model, wanted: str) -> str:
    name = wanted
    n = 2
    while name in model.fields or name in model.relations:
        name = f"{wanted}{n}"
        n += 1
    return name


def _relations(
    schema: Schema, foreign: list[asyncpg.Record], join_tables: dict[str, tuple[str, str]]
) -> None:
    for row in foreign:
        source = schema.models.get(row["table_name"])
        target = schema.models.get(row["target_table"])
        cols, refs = tuple(row["columns"]), tuple(row["refs"])
        if source is None or target is None:
            continue
        if not all(c in source.fields for c in cols) or not all(r in target.fields for r in refs):
            continue
        relation_name = row["conname"]
        base = cols[0]
        for suffix in ("_id", "Id", "_ID"):
            if len(cols) == 1 and base.endswith(suffix) and len(base) > len(suffix):
                base = base[: -len(suffix)]
                break
        else:
            base = target.name
        forward = _field_name(source, base)
        required = all(source.fields[c].required for c in cols)
        source.relations[forward] = RelationField(
            name=forward,
            target=target.name,
            relation_name=relation_name,
            required=required,
            fields=cols,
            references=refs,
            on_delete=_ACTIONS.get(row["on_delete"]),
            on_update=_ACTIONS.get(row["on_update"]),
        )
        unique = cols in source.unique_criteria()
        back = _field_name(target, source.name)
        if back == forward and target is source:
            back = _field_name(target, f"{source.name}_by_{forward}")
        target.relations[back] = RelationField(
            name=back, target=source.name, relation_name=relation_name, is_list=not unique
        )
    for table_name, (a, b) in join_tables.items():
        model_a, model_b = schema.models.get(a), schema.models.get(b)
        if model_a is None or model_b is None:
            continue
        relation_name = table_name[1:]
        field_a = _field_name(model_a, model_b.name if model_a is not model_b else f"{relation_name}_A")
        model_a.relations[field_a] = RelationField(field_a, model_b.name, relation_name, is_list=True)
        field_b = _field_name(model_b, model_a.name if model_a is not model_b else f"{relation_name}_B")
        model_b.relations[field_b] = RelationField(field_b, model_a.name, relation_name, is_list=True)
