"""Small Prisma 7 plans written by hand, in the shape the client's compiler emits them."""

from __future__ import annotations

from typing import Any

FORMAT = {"prefix": "$", "hasNumbering": True}


def param(name: str, kind: str = "String") -> dict[str, Any]:
    return {"prisma__type": "param", "prisma__value": {"name": name, "type": kind}}


def sql(*parts: Any, chunkable: bool = True) -> dict[str, Any]:
    """A templateSql: strings are chunks, `(value, scalarType)` tuples are parameters."""
    fragments: list[dict[str, Any]] = []
    args: list[Any] = []
    types: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, str):
            fragments.append({"type": "stringChunk", "chunk": part})
        else:
            value, scalar, *fragment = part
            fragments.append(fragment[0] if fragment else {"type": "parameter"})
            args.append(value)
            types.append({"arity": "scalar", "scalarType": scalar, "dbType": None})
    return {
        "type": "templateSql",
        "fragments": fragments,
        "args": args,
        "argTypes": types,
        "placeholderFormat": FORMAT,
        "chunkable": chunkable,
    }


def query(*parts: Any) -> dict[str, Any]:
    return {"type": "query", "args": sql(*parts)}


def execute(*parts: Any) -> dict[str, Any]:
    return {"type": "execute", "args": sql(*parts)}


def raw(kind: str, text: str, *args: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "args": {
            "type": "rawSql",
            "sql": text,
            "args": list(args),
            "argTypes": [{"arity": "scalar", "scalarType": "unknown"} for _ in args],
        },
    }


def seq(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "seq", "args": list(nodes)}


def fields(**types: str) -> dict[str, Any]:
    return {
        "type": "object",
        "serializedName": None,
        "skipNulls": False,
        "fields": {
            name: {"type": "field", "dbName": name, "fieldType": {"arity": "required", "type": kind}}
            for name, kind in types.items()
        },
    }


def data_map(expr: dict[str, Any], structure: dict[str, Any]) -> dict[str, Any]:
    return {"type": "dataMap", "args": {"expr": expr, "structure": structure, "enums": {}}}


def body(plan: dict[str, Any], params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"operation": "findMany", "plan": plan, "params": params or {}, **extra}


CREATE_TABLE = 'CREATE TABLE "Note" ("id" SERIAL PRIMARY KEY, "body" TEXT NOT NULL)'
INSERT_NOTE = data_map(
    {
        "type": "unique",
        "args": query(
            'INSERT INTO "public"."Note" ("body") VALUES (',
            (param("%1"), "string"),
            ') RETURNING "public"."Note"."id", "public"."Note"."body"',
        ),
    },
    fields(id="int", body="string"),
)
SELECT_NOTES = data_map(
    query('SELECT "public"."Note"."id", "public"."Note"."body" FROM "public"."Note" ORDER BY "id"'),
    fields(id="int", body="string"),
)
