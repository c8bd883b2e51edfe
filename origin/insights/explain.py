"""The plan of a shape, without its values: `EXPLAIN` of the engine's SQL as a generic plan.

Postgres 15 has no `EXPLAIN (GENERIC_PLAN)`, so the statement is prepared under
`plan_cache_mode = force_generic_plan` and `EXPLAIN EXECUTE` is given NULL for every parameter: a
generic plan is made before any value is known, so the NULLs are never looked at, and the plan shows
`$1` where a value would be. No value is kept anywhere for this (notes.py keeps none), none can show
up in a plan, and a plan shown to one key holds nothing another key of the database sent.

It runs on the tenant's own connection (the database's owner role, never a superuser), inside a
READ ONLY transaction, for the engine's SQL only (raw SQL and Prisma 7 plans are the tenant's text
and are not explained). With hypopg (installed by the host agent into the `bw_hypopg` schema, see
hosts/hypopg.py) a proposed index is created hypothetically in this session and the plan made again;
the session's hypothetical indexes are dropped before the connection goes back to the pool.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from .. import readonly

_PARAM = re.compile(r"\$([0-9]+)")
HYPOPG_SCHEMA = "bw_hypopg"


@dataclass
class Scan:
    """A scan that reads a whole table: a sequential scan, or an index scan with no index condition
    (it walks an index for its order, e.g. the primary key under `ORDER BY id LIMIT n`, and filters
    row by row). Its table, the filter it applies, and the sort above it."""

    node: str
    schema: str
    table: str
    filter: str | None
    sort_keys: list[str] = field(default_factory=list)
    limited: bool = False  # a Limit above it: an index on the order could stop early
    output: list[str] = field(default_factory=list)


@dataclass
class Plan:
    cost: float
    rows: float
    scans: list[Scan]
    index_scans: list[str]  # index names the plan uses

    @staticmethod
    def of(document: Any) -> Plan:
        root = document[0]["Plan"]
        scans: list[Scan] = []
        indexes: list[str] = []
        _walk(root, scans, indexes, [], False)
        return Plan(float(root["Total Cost"]), float(root["Plan Rows"]), scans, indexes)


def _walk(
    node: dict[str, Any], scans: list[Scan], indexes: list[str], sort: list[str], limited: bool
) -> None:
    kind = node.get("Node Type")
    whole_index = kind in ("Index Scan", "Index Only Scan") and "Filter" in node and "Index Cond" not in node
    if kind == "Seq Scan" or whole_index:
        scans.append(
            Scan(
                str(kind),
                node.get("Schema", "public"),
                node["Relation Name"],
                node.get("Filter"),
                list(sort),
                limited,
                list(node.get("Output", [])),
            )
        )
    if "Index Name" in node:
        indexes.append(node["Index Name"])
    keys = list(node.get("Sort Key", [])) if kind in ("Sort", "Incremental Sort") else []
    for child in node.get("Plans", []):
        inherit = keys or (sort if kind in ("Limit", "Sort", "Incremental Sort") else [])
        _walk(child, scans, indexes, inherit, limited or kind == "Limit")


def parameters(sql: str) -> int:
    return max((int(n) for n in _PARAM.findall(sql)), default=0)


async def has_hypopg(conn: asyncpg.Connection) -> bool:
    found = await conn.fetchval(
        "SELECT n.nspname FROM pg_catalog.pg_extension AS e JOIN pg_catalog.pg_namespace AS n "
        "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'hypopg'"
    )
    return bool(found == HYPOPG_SCHEMA)


async def generic_plans(
    conn: asyncpg.Connection, sql: str, hypothetical: str | None = None
) -> tuple[Plan, Plan | None]:
    """The generic plan of `sql`, and with `hypothetical` (a CREATE INDEX statement) the plan with
    that index as hypopg makes it exist for this session only (None without hypopg)."""
    names = ["bw_insight_" + secrets.token_hex(6) for _ in range(2)]
    nulls = ", ".join(["NULL"] * parameters(sql))
    after: Plan | None = None
    hypopg = hypothetical is not None and await has_hypopg(conn)

    async def plan(name: str) -> Plan:
        # The engine's SQL, with $n placeholders: no value is in it (see the module's docstring).
        # Prepared anew each time: a prepared statement keeps its generic plan, hypothetical
        # indexes made later would not be seen.
        await conn.execute(f"PREPARE {name} AS {sql}")
        explained = f"EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE {name}" + (f"({nulls})" if nulls else "")
        return Plan.of(json.loads(await conn.fetchval(explained)))

    try:
        async with readonly.transaction(conn):
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            before = await plan(names[0])
            if hypopg:
                await conn.fetchval(
                    f"SELECT indexrelid FROM {HYPOPG_SCHEMA}.hypopg_create_index($1)", hypothetical
                )
                after = await plan(names[1])
    finally:
        if not conn.is_closed():
            if hypopg:
                await conn.execute(f"SELECT {HYPOPG_SCHEMA}.hypopg_reset()")
            for name in (
                await conn.fetchval(
                    "SELECT pg_catalog.array_agg(name) FROM pg_catalog.pg_prepared_statements "
                    "WHERE name OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[])",
                    names,
                )
                or []
            ):
                await conn.execute(f"DEALLOCATE {name}")
    return before, after
