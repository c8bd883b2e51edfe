"""Databases inside a shared cluster: each tenant gets its own database, an owner role and a read-only
role, and only those may connect to it. The cheapest placement: no processes of its own while idle."""

from __future__ import annotations

import contextlib
import secrets

import asyncpg

from bwservice import pinned

from . import capture, privileges, spares
from .pgconfig import BASE_SETTINGS
from .postgres import PostgresInstance
from .quoting import ident, literal
from .registry import capture_role_name, database_name, reader_role_name, role_name

__all__ = ["SHARED_SETTINGS", "SharedCluster", "database_name", "role_name"]

# Many tenants share these connection slots; the origin's per-host budget stays below them. Change
# capture holds one logical slot and one WAL sender per captured database (slots are a few hundred
# bytes of shared memory; a sender is a process only while its reader is connected).
SHARED_SETTINGS: dict[str, str] = {
    **BASE_SETTINGS,
    "max_connections": "200",
    "max_replication_slots": "256",
    "max_wal_senders": "256",
}


class SharedCluster:
    def __init__(self, instance: PostgresInstance) -> None:
        self.instance = instance

    async def admin(self, database: str | None = None) -> asyncpg.Connection:
        # The agent's changes must outlive a crash even where synchronous_commit is off.
        return await pinned.connect(self.instance.dsn(database), server_settings={"synchronous_commit": "on"})

    async def create_database(self, database_id: str, spare: str | None = None) -> tuple[str, str]:
        """Create the database with its owner and read-only roles; returns their passwords.

        With `spare` (an unused database made ahead of time, roles included) it is renamed instead.
        """
        db, owner, reader = database_name(database_id), role_name(database_id), reader_role_name(database_id)
        password, reader_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        conn = await self.admin()
        try:
            if spare is not None:
                spare_owner, spare_reader = spares.spare_roles(spare)
                # One implicit transaction: all of it or none. Grants and default privileges made for
                # the spare's roles follow them (they are kept by OID).
                await conn.execute(
                    f"ALTER DATABASE {ident(spare)} RENAME TO {ident(db)};"
                    f"ALTER ROLE {ident(spare_owner)} RENAME TO {ident(owner)};"
                    f"ALTER ROLE {ident(owner)} LOGIN PASSWORD {literal(password)};"
                    f"ALTER ROLE {ident(spare_reader)} RENAME TO {ident(reader)};"
                    f"ALTER ROLE {ident(reader)} LOGIN PASSWORD {literal(reader_password)}"
                )
                return password, reader_password
            try:
                await self.new_database(conn, db, owner, reader, password, reader_password)
            except BaseException:
                with contextlib.suppress(Exception):  # undo what was done, as far as the server lets us
                    await conn.execute(f"DROP DATABASE IF EXISTS {ident(db)}")
                    await conn.execute(f"DROP ROLE IF EXISTS {ident(owner)}, {ident(reader)}")
                raise
        finally:
            await conn.close()
        return password, reader_password

    async def make_spare(self, conn: asyncpg.Connection) -> str:
        """A spare database with NOLOGIN roles of its own (nobody may connect until provisioning
        renames them and gives them passwords); returns its name."""
        name = spares.SPARE_DATABASE_PREFIX + secrets.token_hex(6)
        owner, reader = spares.spare_roles(name)
        try:
            await self.new_database(conn, name, owner, reader, None, None)
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.execute(f"DROP DATABASE IF EXISTS {ident(name)}")
                await conn.execute(f"DROP ROLE IF EXISTS {ident(owner)}, {ident(reader)}")
            raise
        return name

    async def new_database(
        self,
        conn: asyncpg.Connection,
        db: str,
        owner: str,
        reader: str,
        password: str | None,
        reader_password: str | None,
    ) -> None:
        # Role passwords cannot be bind parameters (quoting.literal).
        login = f"LOGIN PASSWORD {literal(password)}" if password is not None else "NOLOGIN"
        await conn.execute(f"CREATE ROLE {ident(owner)} {login}")
        await privileges.ensure_reader(conn, reader, reader_password)
        # FILE_COPY copies template1's files and checkpoints; on small templates it beats WAL_LOG,
        # which writes every page of the copy into the WAL.
        await conn.execute(f"CREATE DATABASE {ident(db)} OWNER {ident(owner)} STRATEGY = FILE_COPY")
        await conn.execute(
            f"REVOKE ALL ON DATABASE {ident(db)} FROM PUBLIC;"
            f"GRANT CONNECT, TEMPORARY ON DATABASE {ident(db)} TO {ident(owner)};"
            f"GRANT CONNECT ON DATABASE {ident(db)} TO {ident(reader)}"
        )
        inside = await self.admin(db)
        try:
            await privileges.prepare_database(inside, owner, reader)
        finally:
            await inside.close()

    async def drop_leftovers(self, conn: asyncpg.Connection, database_id: str) -> None:
        """Drop what an unfinished import left of a database that has no record here."""
        db = database_name(database_id)
        roles = (role_name(database_id), reader_role_name(database_id), capture_role_name(database_id))
        for row in await conn.fetch(
            "SELECT slot_name FROM pg_catalog.pg_replication_slots WHERE database OPERATOR(pg_catalog.=) $1",
            db,
        ):
            await conn.execute("SELECT pg_catalog.pg_drop_replication_slot($1)", row["slot_name"])
        await conn.execute(f"DROP DATABASE IF EXISTS {ident(db)} WITH (FORCE)")
        await conn.execute(f"DROP ROLE IF EXISTS {', '.join(ident(r) for r in roles)}")

    async def drop_database(self, database_id: str) -> None:
        db = database_name(database_id)
        roles = (role_name(database_id), reader_role_name(database_id), capture_role_name(database_id))
        conn = await self.admin()
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {ident(db)} WITH (FORCE)")
            await conn.execute(f"DROP ROLE IF EXISTS {', '.join(ident(r) for r in roles)}")
        finally:
            await conn.close()
        capture.forget(self.instance, database_id)

    async def list_databases(self) -> list[str]:
        conn = await self.admin()
        try:
            rows = await conn.fetch(
                "SELECT datname FROM pg_catalog.pg_database "
                "WHERE datname OPERATOR(pg_catalog.~~) 't\\_%' ORDER BY datname"
            )
        finally:
            await conn.close()
        return [str(r["datname"])[2:] for r in rows]
