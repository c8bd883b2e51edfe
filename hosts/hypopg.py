"""hypopg in a tenant database, for query insights' "before vs after" plan costs.

hypopg is not a trusted extension: only a superuser can create it, so the agent does, once per
database, on the origin's request (`POST /databases/{id}/hypopg`). It lives in its own schema,
`bw_hypopg`, which the superuser owns and in which nobody else may create anything; the database's
owner role gets USAGE on it (the origin explains as that role). hypopg's functions only make
hypothetical indexes in the calling session's memory, seen by that session's planner alone: a
tenant calling them affects nobody else.

If a schema named `bw_hypopg` exists that the superuser does not own (the tenant made it first, to
own the functions the extension would put there), nothing is created and insights go without
hypopg. The extension script runs with `search_path` set to `bw_hypopg` (pinned session, see
bwservice/pinned.py), where the tenant can define nothing.
"""

from __future__ import annotations

from bwservice import pinned

from .postgres import PostgresInstance
from .quoting import ident, literal
from .registry import database_name, role_name

SCHEMA = "bw_hypopg"


async def enable(instance: PostgresInstance, database_id: str) -> dict[str, object]:
    """Create hypopg in `bw_hypopg` (idempotent); {"hypopg": bool, "reason"?: str}."""
    conn = await pinned.connect(instance.dsn(database_name(database_id)))
    try:
        async with conn.transaction():
            available = await conn.fetchval(
                "SELECT true FROM pg_catalog.pg_available_extensions "
                "WHERE name OPERATOR(pg_catalog.=) 'hypopg'"
            )
            if not available:
                return {"hypopg": False, "reason": "the hypopg package is not installed on this host"}
            owner_is_superuser = await conn.fetchval(
                "SELECT r.rolsuper FROM pg_catalog.pg_namespace AS n JOIN pg_catalog.pg_roles AS r "
                "ON r.oid OPERATOR(pg_catalog.=) n.nspowner WHERE n.nspname OPERATOR(pg_catalog.=) $1",
                SCHEMA,
            )
            if owner_is_superuser is False:
                return {"hypopg": False, "reason": f"a schema {SCHEMA} exists that the platform did not make"}
            if owner_is_superuser is None:
                await conn.execute(
                    f"CREATE SCHEMA {ident(SCHEMA)}; REVOKE ALL ON SCHEMA {ident(SCHEMA)} FROM PUBLIC"
                )
            placed = await conn.fetchval(
                "SELECT n.nspname FROM pg_catalog.pg_extension AS e JOIN pg_catalog.pg_namespace AS n "
                "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
                "WHERE e.extname OPERATOR(pg_catalog.=) 'hypopg'"
            )
            if placed is None:
                await conn.execute(f"CREATE EXTENSION hypopg WITH SCHEMA {ident(SCHEMA)}")
            elif placed != SCHEMA:
                return {"hypopg": False, "reason": f"hypopg is in schema {literal(placed)}"}
            await conn.execute(f"GRANT USAGE ON SCHEMA {ident(SCHEMA)} TO {ident(role_name(database_id))}")
        return {"hypopg": True}
    finally:
        await conn.close()
