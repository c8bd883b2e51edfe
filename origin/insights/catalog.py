"""What the tenant database says about itself, read as the tenant's own role in a READ ONLY
transaction: table sizes, column widths, index use, open transactions. Every name is qualified and
every operator `OPERATOR(pg_catalog.…)`-qualified, as everything the platform runs in a tenant
database (SECURITY.md), though this runs with the tenant's own rights."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    avg_width: int | None  # pg_stats' average stored width in bytes, when analyzed


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    rows: int  # estimated live rows
    columns: dict[str, Column]
    seq_scans: int
    index_scans: int


@dataclass(frozen=True)
class Index:
    schema: str
    table: str
    name: str
    definition: str
    unique: bool
    primary: bool
    columns: tuple[int, ...]  # attribute numbers (0: an expression)
    plain: bool  # no expression, no predicate
    scans: int
    bytes: int


@dataclass(frozen=True)
class OpenTransaction:
    state: str
    age_seconds: float  # since the transaction began
    idle_seconds: float  # since its last statement ended (idle in transaction), else 0


_TABLES = """
SELECT n.nspname AS schema, c.relname AS name,
       greatest(c.reltuples, coalesce(s.n_live_tup, 0), 0)::int8 AS rows,
       coalesce(s.seq_scan, 0) AS seq_scans, coalesce(s.idx_scan, 0) AS index_scans
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
LEFT JOIN pg_catalog.pg_stat_user_tables AS s ON s.relid OPERATOR(pg_catalog.=) c.oid
WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,m}'::pg_catalog."char"[])
  AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,bw_hypopg}'::pg_catalog.name[])
  AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'
"""

_COLUMNS = """
SELECT n.nspname AS schema, c.relname AS table, a.attname AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, st.avg_width
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
LEFT JOIN pg_catalog.pg_stats AS st ON st.schemaname OPERATOR(pg_catalog.=) n.nspname
     AND st.tablename OPERATOR(pg_catalog.=) c.relname AND st.attname OPERATOR(pg_catalog.=) a.attname
WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
  AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,m}'::pg_catalog."char"[])
  AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,bw_hypopg}'::pg_catalog.name[])
  AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'
"""

_INDEXES = """
SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS name,
       pg_catalog.pg_get_indexdef(s.indexrelid) AS definition, i.indisunique AS unique,
       i.indisprimary AS primary, i.indkey::pg_catalog.int2[] AS columns,
       (i.indexprs IS NULL AND i.indpred IS NULL) AS plain, s.idx_scan AS scans,
       pg_catalog.pg_relation_size(s.indexrelid) AS bytes
FROM pg_catalog.pg_stat_user_indexes AS s
JOIN pg_catalog.pg_index AS i ON i.indexrelid OPERATOR(pg_catalog.=) s.indexrelid
WHERE s.schemaname OPERATOR(pg_catalog.<>) 'bw_hypopg'
"""

# The tenant's own sessions only (a role sees other roles' sessions without their state).
_TRANSACTIONS = """
SELECT state, extract(epoch FROM now() OPERATOR(pg_catalog.-) xact_start)::float8 AS age,
       CASE WHEN state OPERATOR(pg_catalog.~~) 'idle in transaction%'
            THEN extract(epoch FROM now() OPERATOR(pg_catalog.-) state_change)::float8 ELSE 0 END AS idle
FROM pg_catalog.pg_stat_activity
WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
  AND usename OPERATOR(pg_catalog.=) CURRENT_USER
  AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() AND xact_start IS NOT NULL
"""


@dataclass
class Catalog:
    tables: dict[tuple[str, str], Table]
    indexes: list[Index]
    transactions: list[OpenTransaction]
    read_at: dt.datetime

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))


async def read(conn: asyncpg.Connection) -> Catalog:
    """The catalog facts (the caller holds a READ ONLY transaction)."""
    columns: dict[tuple[str, str], dict[str, Column]] = {}
    for row in await conn.fetch(_COLUMNS):
        columns.setdefault((row["schema"], row["table"]), {})[row["name"]] = Column(
            row["name"], row["type"], row["avg_width"]
        )
    tables = {
        (r["schema"], r["name"]): Table(
            r["schema"],
            r["name"],
            int(r["rows"]),
            columns.get((r["schema"], r["name"]), {}),
            int(r["seq_scans"]),
            int(r["index_scans"]),
        )
        for r in await conn.fetch(_TABLES)
    }
    indexes = [
        Index(
            r["schema"],
            r["table"],
            r["name"],
            r["definition"],
            r["unique"],
            r["primary"],
            tuple(r["columns"]),
            r["plain"],
            int(r["scans"]),
            int(r["bytes"]),
        )
        for r in await conn.fetch(_INDEXES)
    ]
    transactions = [
        OpenTransaction(r["state"] or "", float(r["age"] or 0), float(r["idle"] or 0))
        for r in await conn.fetch(_TRANSACTIONS)
    ]
    return Catalog(tables, indexes, transactions, dt.datetime.now(dt.UTC))
