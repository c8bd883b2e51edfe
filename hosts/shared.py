"""Databases inside a shared cluster: each tenant gets its own database and login role, and only
that role may connect to it. The cheapest placement: no processes of its own while idle."""

from __future__ import annotations

import contextlib
import secrets

import asyncpg

from .postgres import BASE_SETTINGS, PostgresInstance
from .registry import database_name, role_name

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

    async def _admin(self) -> asyncpg.Connection:
        # The agent's changes must outlive a crash even where synchronous_commit is off.
        return await asyncpg.connect(self.instance.dsn(), server_settings={"synchronous_commit": "on"})

    async def create_database(self, database_id: str, spare: str | None = None) -> str:
        """Create the database and its owner role; returns the password of the role.

        With `spare` (an unused database made ahead of time) it is renamed instead of created.
        """
        db, role = database_name(database_id), role_name(database_id)
        password = secrets.token_urlsafe(24)
        conn = await self._admin()
        if spare is not None:
            try:
                # One implicit transaction: all of it or none.
                await conn.execute(
                    f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}';"
                    f'ALTER DATABASE "{spare}" RENAME TO "{db}";'
                    f'ALTER DATABASE "{db}" OWNER TO "{role}";'
                    f'GRANT CONNECT, TEMPORARY ON DATABASE "{db}" TO "{role}"'
                )
            finally:
                await conn.close()
            return password
        try:
            # Role passwords cannot be bind parameters; token_urlsafe has no quote characters.
            await conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
            # FILE_COPY copies template1's files and checkpoints; on small templates it beats WAL_LOG,
            # which writes every page of the copy into the WAL.
            await conn.execute(f'CREATE DATABASE "{db}" OWNER "{role}" STRATEGY = FILE_COPY')
            await conn.execute(f'REVOKE ALL ON DATABASE "{db}" FROM PUBLIC')
            await conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{db}" TO "{role}"')
        except BaseException:
            with contextlib.suppress(Exception):  # undo what was done, as far as the server lets us
                await conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
                await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
            raise
        finally:
            await conn.close()
        return password

    async def drop_database(self, database_id: str) -> None:
        db, role = database_name(database_id), role_name(database_id)
        conn = await self._admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()

    async def list_databases(self) -> list[str]:
        conn = await self._admin()
        try:
            rows = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%' ORDER BY datname"
            )
        finally:
            await conn.close()
        return [str(r["datname"])[2:] for r in rows]
