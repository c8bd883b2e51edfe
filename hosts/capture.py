"""Change capture on a tenant database: what needs the cluster's superuser, done by the host agent.

The origin reads changes through a logical replication slot with `pgoutput`. That needs three things
a tenant role must not have:
- a login role with the REPLICATION attribute. One per database (`c_<id>`, a member of the platform
  group that may log in over TCP), with CONNECT on that database only; pg_hba admits no physical
  replication, so it can decode its own database's changes and stream nothing else. Its password is
  kept beside the instance (0600) and known to the agent and the origin only;
- a publication FOR ALL TABLES (superuser only);
- a guard that gives every table without a primary key REPLICA IDENTITY FULL, because once a
  publication publishes updates and deletes, Postgres refuses UPDATE/DELETE on a table with no
  replica identity.

Nothing the superuser runs here resolves a name the tenant can define: the session pins search_path
(`bwservice.pinned`), the guard function pins its own and qualifies every operator and function, and
the pass over existing tables runs as the tenant's role (`privileges.as_owner`), which owns them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from pathlib import Path

import asyncpg

from bwcontract.codes import Code
from bwservice import pinned

from . import privileges
from .postgres import PostgresInstance
from .quoting import ident, literal
from .registry import capture_role_name, database_name, role_name

log = logging.getLogger("breakwater.hosts")

PUBLICATION = "breakwater_capture"
GUARD_SCHEMA = "breakwater_capture"
# TRUNCATE too: it empties a table without a delete per row, and a consumer mirroring the table
# (or the edge cache holding its reads) must hear of it.
_PUBLISH = "insert, update, delete, truncate"
# The one role every capture of an instance shared, before roles per database (see migrate()).
_OLD_ROLE = "bw_capture"

_TABLES_WITHOUT_KEY = """
    c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[])
    AND c.relreplident OPERATOR(pg_catalog.=) 'd'
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisprimary)
"""

# Runs as whoever ran the DDL (the table's owner: event trigger functions are never SECURITY
# DEFINER here), after CREATE/ALTER TABLE: a table with neither a primary key nor a chosen identity
# index gets REPLICA IDENTITY FULL, so its updates keep working.
_GUARD = f"""
CREATE OR REPLACE FUNCTION {ident(GUARD_SCHEMA)}.full_identity_without_key() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  target record;
BEGIN
  FOR target IN
    SELECT c.oid::pg_catalog.regclass AS name
    FROM pg_catalog.pg_event_trigger_ddl_commands() d
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
      AND {_TABLES_WITHOUT_KEY}
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', target.name);
  END LOOP;
END $$;
DROP EVENT TRIGGER IF EXISTS breakwater_capture_identity;
CREATE EVENT TRIGGER breakwater_capture_identity ON ddl_command_end
  WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO')
  EXECUTE FUNCTION {ident(GUARD_SCHEMA)}.full_identity_without_key();
"""

# As the owner (privileges.as_owner): the same for the tables that exist already.
_FULL_IDENTITY_FOR_EXISTING = f"""
DECLARE
  target record;
BEGIN
  FOR target IN
    SELECT c.oid::pg_catalog.regclass AS name FROM pg_catalog.pg_class c
    WHERE pg_catalog.pg_has_role(c.relowner, 'USAGE')
      AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
      AND {_TABLES_WITHOUT_KEY}
  LOOP
    EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', target.name);
  END LOOP;
END
"""


class CaptureRefused(ValueError):
    """Capture cannot be turned on as the tenant's database stands: the tenant's to fix (the agent
    answers 409 with this code and the reason, and the origin passes both on)."""

    code = Code.CAPTURE_REFUSED


def _passwords_dir(instance: PostgresInstance) -> Path:
    return instance.root / "capture"


def _role_password(instance: PostgresInstance, database_id: str) -> str:
    """The database's capture role password, kept beside the instance (made once, 0600)."""
    folder = _passwords_dir(instance)
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{database_id}.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return str(json.loads(path.read_text())["password"])
    password = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({"role": capture_role_name(database_id), "password": password}))
    return password


def forget(instance: PostgresInstance, database_id: str) -> None:
    """Drop the password file of a database that is gone (its role went with it)."""
    (_passwords_dir(instance) / f"{database_id}.json").unlink(missing_ok=True)


async def _ensure_role(admin: asyncpg.Connection, database_id: str, password: str) -> None:
    role = capture_role_name(database_id)
    await privileges.ensure_platform_group(admin)
    exists = await admin.fetchval(
        "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", role
    )
    # Passwords cannot be bind parameters (quoting.literal).
    await admin.execute(
        f"{'ALTER' if exists else 'CREATE'} ROLE {ident(role)} LOGIN REPLICATION "
        f"PASSWORD {literal(password)};"
        f"GRANT {ident(privileges.PLATFORM_GROUP)} TO {ident(role)};"
        f"GRANT CONNECT ON DATABASE {ident(database_name(database_id))} TO {ident(role)}"
    )


async def _install_guard(tenant: asyncpg.Connection, superuser: str) -> None:
    owner = await tenant.fetchval(
        "SELECT pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace "
        "WHERE nspname OPERATOR(pg_catalog.=) $1",
        GUARD_SCHEMA,
    )
    if owner is None:
        await tenant.execute(
            f"CREATE SCHEMA {ident(GUARD_SCHEMA)}; GRANT USAGE ON SCHEMA {ident(GUARD_SCHEMA)} TO PUBLIC"
        )
    elif owner != superuser:
        # Its functions would be the tenant's to replace, and the event trigger runs them.
        raise CaptureRefused(
            f'The schema "{GUARD_SCHEMA}" belongs to "{owner}": Breakwater keeps its change capture '
            "function there. Rename or drop that schema, then open the stream again."
        )
    await tenant.execute(_GUARD)


async def enable(instance: PostgresInstance, database_id: str) -> dict[str, str]:
    """Prepare `database_id` for capture (idempotent); returns the DSN the origin reads the slot with."""
    db = database_name(database_id)
    password = _role_password(instance, database_id)
    admin = await pinned.connect(instance.dsn())
    try:
        await _ensure_role(admin, database_id, password)
    finally:
        await admin.close()
    tenant = await pinned.connect(instance.dsn(db))
    try:
        async with tenant.transaction():
            await _install_guard(tenant, instance.meta.superuser)
            await privileges.as_owner(tenant, role_name(database_id), _FULL_IDENTITY_FOR_EXISTING)
            truncates = await tenant.fetchval(
                "SELECT pubtruncate FROM pg_catalog.pg_publication WHERE pubname OPERATOR(pg_catalog.=) $1",
                PUBLICATION,
            )
            if truncates is None:
                await tenant.execute(
                    f"CREATE PUBLICATION {ident(PUBLICATION)} FOR ALL TABLES "
                    f"WITH (publish = {literal(_PUBLISH)})"
                )
            elif not truncates:  # made before TRUNCATE was captured
                await tenant.execute(
                    f"ALTER PUBLICATION {ident(PUBLICATION)} SET (publish = {literal(_PUBLISH)})"
                )
    finally:
        await tenant.close()
    return address(instance, database_id)


def address(instance: PostgresInstance, database_id: str) -> dict[str, str]:
    """The capture DSN as it is now (an instance may listen on another port after it slept), read
    from disk: asking does not wake the instance."""
    role = capture_role_name(database_id)
    dsn = instance.dsn(database_name(database_id), role, _role_password(instance, database_id))
    return {"dsn": dsn, "publication": PUBLICATION}


async def migrate(instance: PostgresInstance) -> list[str]:
    """Move the databases an older agent captured with one role per instance (`bw_capture`, CONNECT
    on all of them) to roles of their own, then drop the old role; returns the databases moved.

    The origin's readers fail to log in as the old role from then on, and ask the agent for the
    capture address again (GET /databases/{id}/capture), which names the new role. Slots belong to
    databases, not roles: each reader resumes where it stopped.
    """
    old_file = instance.root / "capture-role.json"
    admin = await pinned.connect(instance.dsn(), server_settings={"synchronous_commit": "on"})
    try:
        if not await admin.fetchval(
            "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", _OLD_ROLE
        ):
            old_file.unlink(missing_ok=True)
            return []
        rows = await admin.fetch(
            "SELECT datname FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.~~) 't\\_%' "
            "AND pg_catalog.has_database_privilege($1, oid, 'CONNECT')",
            _OLD_ROLE,
        )
        moved = [str(r["datname"]).removeprefix("t_") for r in rows]
        await admin.execute(f"ALTER ROLE {ident(_OLD_ROLE)} NOLOGIN")
        for database_id in moved:
            await _ensure_role(admin, database_id, _role_password(instance, database_id))
            await admin.execute(
                f"REVOKE CONNECT ON DATABASE {ident(database_name(database_id))} FROM {ident(_OLD_ROLE)}"
            )
        await admin.execute(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
            "WHERE usename OPERATOR(pg_catalog.=) $1",
            _OLD_ROLE,
        )
        try:
            await admin.execute(f"DROP ROLE {ident(_OLD_ROLE)}")
        except asyncpg.DependentObjectsStillReferencedError as exc:
            log.warning("the old capture role stays (NOLOGIN)", extra={"fields": {"error": str(exc)}})
    finally:
        await admin.close()
    old_file.unlink(missing_ok=True)
    if moved:
        log.info(
            "capture roles per database", extra={"fields": {"instance": instance.root.name, "moved": moved}}
        )
    return moved


async def drop_slots(instance: PostgresInstance, database_id: str, timeout: float = 10.0) -> list[str]:
    """Drop every replication slot of the database (DROP DATABASE refuses while any exist).

    A reader still streaming from a slot is disconnected first; its walsender needs a moment to exit.
    """
    admin = await pinned.connect(instance.dsn())
    dropped: list[str] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await admin.fetch(
                "SELECT slot_name, active_pid FROM pg_catalog.pg_replication_slots "
                "WHERE database OPERATOR(pg_catalog.=) $1",
                database_name(database_id),
            )
            if not rows:
                return dropped
            for row in rows:
                if row["active_pid"] is not None:
                    await admin.execute("SELECT pg_catalog.pg_terminate_backend($1)", row["active_pid"])
                    continue
                try:
                    await admin.execute("SELECT pg_catalog.pg_drop_replication_slot($1)", row["slot_name"])
                    dropped.append(str(row["slot_name"]))
                except asyncpg.ObjectInUseError:
                    pass  # a reader reconnected in between: terminate it on the next round
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"replication slots of {database_id} stay in use")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
