"""Versioned SQL migrations (`migrations/NNNN_name.sql`), applied in order at start.

Several origin processes may start at once: an advisory lock makes one apply and the rest wait.
"""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

log = logging.getLogger("breakwater.control")

_LOCK_ID = 0x42574D47  # "BWMG"


def migration_files() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("origin.control").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql"):
            found.append((int(name.split("_", 1)[0]), name, entry.read_text()))
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            log.info("applied migration", extra={"fields": {"migration": name}})
            applied_now.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied_now
