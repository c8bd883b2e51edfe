"""Privileges the host agent keeps in step inside a cluster and its tenant databases.

Roles per tenant database (names from `registry`): `u_<id>` owns the database and everything in it;
`r_<id>` (read-only keys) may connect and read: USAGE on the owner's schemas, SELECT on its tables,
views and sequences, kept in step for objects made later by default privileges; `c_<id>` (change
capture, see capture.py) may stream that database's changes. No tenant role may connect to `postgres`
or `template1`, and only the host's platform roles (the superuser, members of `PLATFORM_GROUP`) may
log in over TCP: tenant roles come through the wake-on-connect proxy, on the instance's Unix socket.

Everything here runs in superuser sessions opened with `bwservice.pinned` (search_path pinned), and
what must act on the tenant's objects runs as the tenant's role through `as_owner`.
"""

from __future__ import annotations

import secrets

import asyncpg

from .quoting import ident, literal

PLATFORM_GROUP = "bw_platform"  # NOLOGIN; its members may log in over TCP (pg_hba)

# Every role may create large objects by default, even in a READ ONLY transaction (creating one
# writes only the catalog): only the database's owner may.
_LARGE_OBJECT_CREATORS = (
    "pg_catalog.lo_create(pg_catalog.oid)",
    "pg_catalog.lo_creat(pg_catalog.int4)",
    "pg_catalog.lo_from_bytea(pg_catalog.oid, pg_catalog.bytea)",
)

# Run as the owner (see as_owner); `reader` is the read-only role. Objects of schemas the owner
# holds (its own, and `public`, which belongs to pg_database_owner) become readable, now and later.
_READER_GRANTS = """
DECLARE
  s record;
BEGIN
  EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO %I', reader);
  EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES GRANT SELECT ON SEQUENCES TO %I', reader);
  EXECUTE pg_catalog.format('ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO %I', reader);
  FOR s IN
    SELECT n.nspname FROM pg_catalog.pg_namespace n
    WHERE pg_catalog.pg_has_role(n.nspowner, 'USAGE')
      AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_%'
      AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema'
  LOOP
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', s.nspname, reader);
    EXECUTE pg_catalog.format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', s.nspname, reader);
    EXECUTE pg_catalog.format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s.nspname, reader);
  END LOOP;
END
"""


async def as_owner(conn: asyncpg.Connection, owner: str, body: str, argument: str = "") -> None:
    """Run a PL/pgSQL block (`body`, which may read `argument` as `reader`) with the rights of `owner`,
    from a superuser session in the owner's database.

    SET ROLE would not do: tenant code reached meanwhile (an operator, a function) could RESET ROLE
    back to the superuser. Inside a SECURITY DEFINER function Postgres refuses SET ROLE and SET
    SESSION AUTHORIZATION, so the block runs as the owner and nothing in it can climb back. The
    function lives in this session's temporary schema, uncommitted, for one transaction: nobody else
    can see, change or call it.
    """
    name = f"pg_temp.{ident('bw_as_owner_' + secrets.token_hex(6))}"
    async with conn.transaction():
        await conn.execute(
            f"CREATE FUNCTION {name}(reader pg_catalog.text) RETURNS pg_catalog.void LANGUAGE plpgsql "
            f"SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $bw_body${body}$bw_body$"
        )
        await conn.execute(f"ALTER FUNCTION {name}(pg_catalog.text) OWNER TO {ident(owner)}")
        await conn.execute(f"SELECT {name}($1)", argument)
        await conn.execute(f"DROP FUNCTION {name}(pg_catalog.text)")


async def prepare_database(conn: asyncpg.Connection, owner: str, reader: str) -> None:
    """In a tenant database (a superuser session in it): large objects for the owner only, and the
    reader able to read everything of the owner's, now and later. Idempotent."""
    functions = ", ".join(_LARGE_OBJECT_CREATORS)
    async with conn.transaction():
        await conn.execute(f"REVOKE EXECUTE ON FUNCTION {functions} FROM PUBLIC")
        await conn.execute(f"GRANT EXECUTE ON FUNCTION {functions} TO {ident(owner)}")
        await as_owner(conn, owner, _READER_GRANTS, reader)


async def ensure_reader(conn: asyncpg.Connection, reader: str, password: str | None) -> None:
    """Create or update a read-only role (a superuser session): READ ONLY transactions by default; a
    login role with `password`, else (a spare's) NOLOGIN. Its database grants it CONNECT only (never
    TEMPORARY). Passwords cannot be bind parameters (quoting.literal)."""
    exists = await conn.fetchval(
        "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", reader
    )
    verb = "ALTER" if exists else "CREATE"
    login = f"LOGIN PASSWORD {literal(password)}" if password is not None else "NOLOGIN"
    await conn.execute(
        f"{verb} ROLE {ident(reader)} {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        f"NOBYPASSRLS;"
        f"ALTER ROLE {ident(reader)} SET default_transaction_read_only = on"
    )


async def ensure_platform_group(conn: asyncpg.Connection) -> None:
    if not await conn.fetchval(
        "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", PLATFORM_GROUP
    ):
        await conn.execute(f"CREATE ROLE {ident(PLATFORM_GROUP)} NOLOGIN")


async def harden_cluster(conn: asyncpg.Connection) -> None:
    """Cluster-wide, idempotent (a superuser session): the platform group exists, and nobody but the
    superuser may connect to, or make temporary tables in, the maintenance databases."""
    await ensure_platform_group(conn)
    for row in await conn.fetch(
        "SELECT datname FROM pg_catalog.pg_database "
        "WHERE datname OPERATOR(pg_catalog.=) ANY ('{postgres,template1}'::pg_catalog.name[])"
    ):
        await conn.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {ident(row['datname'])} FROM PUBLIC")
