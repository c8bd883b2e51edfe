"""The column type names Prisma clients expect in raw-query results (`serializeRawSql`'s names),
by Postgres type name; shared by the Prisma 6 engine and the Prisma 7 plan executor."""

from __future__ import annotations

import math

TYPE_NAMES: dict[str, str] = {
    "int2": "int",
    "int4": "int",
    "oid": "int",
    "int8": "bigint",
    "float4": "float",
    "float8": "double",
    "numeric": "decimal",
    "money": "decimal",
    "bool": "bool",
    "text": "string",
    "varchar": "string",
    "bpchar": "string",
    "name": "string",
    "char": "char",
    "xml": "string",
    "citext": "string",
    "json": "json",
    "jsonb": "json",
    "bytea": "bytes",
    "uuid": "uuid",
    "timestamp": "datetime",
    "timestamptz": "datetime",
    "date": "date",
    "time": "time",
    "timetz": "time",
}


def json_float(value: float) -> float | str:
    """A float as a JSON response carries it: NaN and the infinities are not JSON numbers, so they
    go as the text Postgres's own JSON functions give them (model reads come back that way too)."""
    if math.isfinite(value):
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
