"""Change capture on a tenant database: what needs the cluster's superuser, done by the host agent.

The origin reads changes through a logical replication slot with `pgoutput`. That needs three things
a tenant role must not have: a role with the REPLICATION attribute (it could stream the whole
cluster's WAL, so only Breakwater holds it), a publication FOR ALL TABLES (superuser only), and a
guard that gives every table without a primary key REPLICA IDENTITY FULL, because once a publication
publishes updates and deletes, Postgres refuses UPDATE/DELETE on a table with no replica identity.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import asyncpg

from .postgres import PostgresInstance
from .registry import database_name

CAPTURE_ROLE = "bw_capture"
PUBLICATION = "breakwater_capture"
# TRUNCATE too: it empties a table without a delete per row, and a consumer mirroring the table
# (or the edge cache holding its reads) must hear of it.
_PUBLISH = "insert, update, delete, truncate"

# Runs as whoever ran the DDL (the table's owner), after CREATE/ALTER TABLE: a table with neither a
# primary key nor a chosen identity index gets REPLICA IDENTITY FULL, so its updates keep working.
_GUARD = """
CREATE SCHEMA IF NOT EXISTS breakwater_capture;
GRANT USAGE ON SCHEMA breakwater_capture TO PUBLIC;
CREATE OR REPLACE FUNCTION breakwater_capture.full_identity_without_key() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  target record;
BEGIN
  FOR target IN
    SELECT c.oid::regclass AS name
    FROM pg_event_trigger_ddl_commands() d
    JOIN pg_class c ON c.oid = d.objid
    WHERE d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p') AND c.relreplident = 'd'
      AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
  LOOP
    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', target.name);
  END LOOP;
END $$;
DROP EVENT TRIGGER IF EXISTS breakwater_capture_identity;
CREATE EVENT TRIGGER breakwater_capture_identity ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO')
  EXECUTE FUNCTION breakwater_capture.full_identity_without_key();
"""

_EXISTING = """
SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND c.relreplident = 'd'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
"""


def _role_password(instance: PostgresInstance) -> str:
    """The capture role's password, kept beside the instance (created once, 0600)."""
    path: Path = instance.root / "capture-role.json"
    if path.exists():
        return str(json.loads(path.read_text())["password"])
    password = secrets.token_urlsafe(24)
    path.write_text(json.dumps({"role": CAPTURE_ROLE, "password": password}))
    path.chmod(0o600)
    return password


async def enable(instance: PostgresInstance, database_id: str) -> dict[str, str]:
    """Prepare `database_id` for capture (idempotent); returns the DSN the origin reads the slot with."""
    db = database_name(database_id)
    password = _role_password(instance)
    admin = await asyncpg.connect(instance.dsn())
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", CAPTURE_ROLE)
        verb = "ALTER" if exists else "CREATE"
        # Passwords cannot be bind parameters; token_urlsafe has no quote characters.
        await admin.execute(f"{verb} ROLE {CAPTURE_ROLE} LOGIN REPLICATION PASSWORD '{password}'")
        await admin.execute(f'GRANT CONNECT ON DATABASE "{db}" TO {CAPTURE_ROLE}')
    finally:
        await admin.close()
    tenant = await asyncpg.connect(instance.dsn(db))
    try:
        async with tenant.transaction():
            await tenant.execute(_GUARD)
            for table in await tenant.fetch(_EXISTING):
                await tenant.execute(f"ALTER TABLE {table[0]} REPLICA IDENTITY FULL")
            truncates = await tenant.fetchval(
                "SELECT pubtruncate FROM pg_publication WHERE pubname = $1", PUBLICATION
            )
            if truncates is None:
                await tenant.execute(
                    f"CREATE PUBLICATION {PUBLICATION} FOR ALL TABLES WITH (publish = '{_PUBLISH}')"
                )
            elif not truncates:  # made before TRUNCATE was captured
                await tenant.execute(f"ALTER PUBLICATION {PUBLICATION} SET (publish = '{_PUBLISH}')")
    finally:
        await tenant.close()
    return address(instance, database_id)


def address(instance: PostgresInstance, database_id: str) -> dict[str, str]:
    """The capture DSN as it is now (an instance may listen on another port after it slept), read
    from disk: asking does not wake the instance."""
    dsn = instance.dsn(database_name(database_id), CAPTURE_ROLE, _role_password(instance))
    return {"dsn": dsn, "publication": PUBLICATION}


async def drop_slots(instance: PostgresInstance, database_id: str, timeout: float = 10.0) -> list[str]:
    """Drop every replication slot of the database (DROP DATABASE refuses while any exist).

    A reader still streaming from a slot is disconnected first; its walsender needs a moment to exit.
    """
    admin = await asyncpg.connect(instance.dsn())
    dropped: list[str] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await admin.fetch(
                "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = $1",
                database_name(database_id),
            )
            if not rows:
                return dropped
            for row in rows:
                if row["active_pid"] is not None:
                    await admin.execute("SELECT pg_terminate_backend($1)", row["active_pid"])
                    continue
                try:
                    await admin.execute("SELECT pg_drop_replication_slot($1)", row["slot_name"])
                    dropped.append(str(row["slot_name"]))
                except asyncpg.ObjectInUseError:
                    pass  # a reader reconnected in between: terminate it on the next round
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"replication slots of {database_id} stay in use")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
