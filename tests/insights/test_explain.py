"""Generic plans of the engine's SQL, made without values, as a non-superuser role."""

from __future__ import annotations

import asyncpg

from origin.insights import explain


async def _setup(dsn: str) -> str:
    """A table of 20,000 rows owned by a plain role; that role's DSN."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(
            "CREATE ROLE insight_owner LOGIN PASSWORD 'pw'; "
            "CREATE TABLE people (id int PRIMARY KEY, email text, age int); "
            "INSERT INTO people SELECT g, 'p' || g || '@x', g % 90 FROM generate_series(1, 20000) g; "
            "ANALYZE people; ALTER TABLE people OWNER TO insight_owner"
        )
        await admin.execute("CREATE SCHEMA bw_hypopg; CREATE EXTENSION hypopg WITH SCHEMA bw_hypopg")
        await admin.execute("GRANT USAGE ON SCHEMA bw_hypopg TO insight_owner")
    finally:
        await admin.close()
    return dsn.replace("postgresql://", "postgresql://insight_owner:pw@", 1) if "@" not in dsn else dsn


async def test_a_generic_plan_shows_the_seq_scan_and_the_hypothetical_index_lowers_its_cost(
    pg_database: str,
) -> None:
    await _setup(pg_database)
    conn = await asyncpg.connect(pg_database)
    try:
        await conn.execute("SET ROLE insight_owner")
        sql = "SELECT row_to_json(t) FROM public.people AS t WHERE t.email = $1 LIMIT $2"
        before, after = await explain.generic_plans(conn, sql, "CREATE INDEX ON public.people (email)")
        assert [s.table for s in before.scans] == ["people"]
        assert "$1" in (before.scans[0].filter or "")
        assert after is not None and after.cost < before.cost and not after.scans
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'bw_insight%'"
        )
        assert left == 0
        assert await conn.fetchval("SELECT count(*) FROM bw_hypopg.hypopg()") == 0
    finally:
        await conn.close()
