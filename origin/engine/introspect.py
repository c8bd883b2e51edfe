"""A schema model from a live database's catalog (tables of `public`, their columns and keys)."""

from __future__ import annotations

import asyncpg

from .schema import Model, ScalarField, Schema

_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name, a.attnum,
       t.typname, t.typtype::text AS typtype, et.typname AS elem_typname, et.typtype::text AS elem_typtype,
       a.attnotnull, a.atthasdef OR a.attidentity <> '' AS has_default,
       format_type(a.atttypid, a.atttypmod) AS native
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
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


async def introspect(conn: asyncpg.Connection, schema: str = "public") -> Schema:
    result = Schema()
    for row in await conn.fetch(_ENUMS, schema):
        result.enums[row["typname"]] = list(row["labels"])
    keys: dict[str, list[tuple[bool, tuple[str, ...]]]] = {}
    for row in await conn.fetch(_KEYS, schema):
        keys.setdefault(row["table_name"], []).append((row["indisprimary"], tuple(row["columns"])))
    for row in await conn.fetch(_COLUMNS, schema):
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
        model.fields[column] = ScalarField(
            name=column,
            column=column,
            type=scalar,
            required=bool(row["attnotnull"]),
            is_list=is_list,
            has_default=bool(row["has_default"]),
            native_type=row["native"],
        )
    for table_name, indexes in keys.items():
        model_or_none = result.models.get(table_name)
        if model_or_none is None:
            continue
        model = model_or_none
        for primary, columns in indexes:
            if not all(c in model.fields for c in columns):
                continue
            if primary:
                model.primary_key = columns
            else:
                model.unique_sets.append(columns)
            if len(columns) == 1:
                f = model.fields[columns[0]]
                model.fields[columns[0]] = ScalarField(
                    **{**f.__dict__, "is_id": primary or f.is_id, "is_unique": True}
                )
    return result
