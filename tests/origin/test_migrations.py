from __future__ import annotations

import asyncio

import asyncpg

from origin.control.migrate import migrate, migration_files


def test_migrations_have_unique_increasing_versions() -> None:
    versions = [v for v, _, _ in migration_files()]
    assert versions == sorted(set(versions)) and versions[0] == 1


async def test_migrations_apply_once_even_when_origins_start_together(pg_database: str) -> None:
    conns = [await asyncpg.connect(pg_database) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(a) for a in applied) == [0, 0, len(migration_files())]
        assert await migrate(conns[0]) == []
        tables = {
            r["tablename"]
            for r in await conns[0].fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert {
            "workspaces",
            "hosts",
            "databases",
            "api_keys",
            "usage_daily",
            "plans",
            "schema_migrations",
        } <= tables
    finally:
        for c in conns:
            await c.close()


async def test_api_keys_store_only_a_hash(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await migrate(conn)
        columns = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys'"
            )
        }
        assert "key_hash" in columns and not {"key", "api_key", "secret"} & columns
    finally:
        await conn.close()
