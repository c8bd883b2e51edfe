"""One database's insights: its top shapes for a window and the recommendations, with evidence.

Statistics come from the control plane (every origin process's, see stats.py and notes.py); plans
and catalog facts from the tenant database itself, read now on a connection of its own role (see
explain.py), so a recommendation whose cause is gone (the index made) is gone at the next look.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from .. import readonly
from . import catalog as catalogs
from . import explain, figures, indexrules, proposals, rules
from .figures import ShapeFigures
from .recommendations import Explained, Recommendation
from .stats import OTHER, UNSHAPED

log = logging.getLogger("breakwater.insights")

MAX_EXPLAINED = 20  # shapes explained per report: the ones with most total time
TOP_SHAPES = 50  # shapes listed
_EXPLAINABLE = frozenset(
    {
        "findMany",
        "findFirst",
        "findFirstOrThrow",
        "findUnique",
        "findUniqueOrThrow",
        "count",
        "aggregate",
        "groupBy",
    }
)

Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]


async def build(
    pool: asyncpg.Pool,
    database_id: str,
    window: str,
    connect: Connect,
    prepare_hypopg: Callable[[], Awaitable[bool]],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    shapes = await figures.read(pool, database_id, window, now)
    hypopg = await prepare_hypopg()
    remarks: list[str] = []
    async with connect() as conn:
        async with readonly.transaction(conn):
            catalog = await catalogs.read(conn)
        explained = await _explain_all(conn, shapes, catalog, remarks)
    if not hypopg:
        remarks.append("hypopg is not available for this database: index gains are not costed")
    found: list[Recommendation] = []
    for f in shapes:
        if f.shape in (OTHER, UNSHAPED):
            continue
        if f.shape in explained:
            found += indexrules.unindexed(f, explained[f.shape], catalog)
        found += rules.many_rows(f)
        found += rules.deep_skip(f)
        found += rules.n_plus_one(f)
        found += rules.cacheable(f)
        found += rules.over_fetching(f, catalog)
        found += rules.timeouts(f)
    found += rules.transactions(shapes, catalog)
    found += indexrules.index_hygiene(catalog)
    return {
        "window": window,
        "since": (now - figures.WINDOWS[window][1]).isoformat(),
        "until": now.isoformat(),
        "hypopg": hypopg,
        "shapes": [f.as_json() for f in shapes[:TOP_SHAPES]],
        "recommendations": [r.as_json() for r in found],
        "remarks": remarks,
    }


async def _explain_all(
    conn: asyncpg.Connection, shapes: list[ShapeFigures], catalog: catalogs.Catalog, remarks: list[str]
) -> dict[str, Explained]:
    explained: dict[str, Explained] = {}
    candidates = [f for f in shapes if f.sql and f.action in _EXPLAINABLE][:MAX_EXPLAINED]
    for f in candidates:
        assert f.sql is not None
        try:
            explained[f.shape] = await _explain(conn, f, catalog)
        except asyncpg.PostgresError as exc:
            # The SQLSTATE only: a message could quote the tenant's objects, never values, but is not needed.
            remarks.append(f"shape {f.shape} could not be explained (SQLSTATE {exc.sqlstate})")
            if conn.is_closed():
                break
    return explained


async def _explain(conn: asyncpg.Connection, f: ShapeFigures, catalog: catalogs.Catalog) -> Explained:
    assert f.sql is not None
    plan, _ = await explain.generic_plans(conn, f.sql)
    for scan in plan.scans:
        table = catalog.table(scan.schema, scan.table)
        if table is None or table.rows < indexrules.LARGE_TABLE_ROWS:
            continue
        proposed = proposals.proposal(scan, table, catalog.indexes, bool(f.facts.get("leading_wildcard")))
        if proposed is None:
            continue
        after = None
        hypothetical = proposed.hypothetical()
        if hypothetical is not None:
            _, after = await explain.generic_plans(conn, f.sql, hypothetical)
        return Explained(plan, scan, proposed, after)
    return Explained(plan)
