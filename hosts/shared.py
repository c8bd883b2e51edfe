"""Databases inside a shared cluster: each tenant gets its own database and login role, and only
that role may connect to it."""

from __future__ import annotations

import re
import secrets

import asyncpg

from .postgres import PostgresInstance

_ID = re.compile(r"^[a-z0-9]{1,40}$")


def database_name(database_id: str) -> str:
    return f"t_{_checked(database_id)}"


def role_name(database_id: str) -> str:
    return f"u_{_checked(database_id)}"


def _checked(database_id: str) -> str:
    # Ids come from the control plane; the check keeps them safe to splice as identifiers.
    if not _ID.match(database_id):
        raise ValueError(f"invalid database id {database_id!r}")
    return database_id


class SharedCluster:
    def __init__(self, instance: PostgresInstance) -> None:
        self.instance = instance

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.instance.dsn("postgres"))

    async def create_database(self, database_id: str) -> str:
        """Create the database and its owner role; returns the tenant's DSN."""
        db, role = database_name(database_id), role_name(database_id)
        password = secrets.token_urlsafe(24)
        conn = await self._admin()
        try:
            # Role passwords cannot be bind parameters; token_urlsafe has no quote characters.
            await conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
            await conn.execute(f'CREATE DATABASE "{db}" OWNER "{role}"')
            await conn.execute(f'REVOKE ALL ON DATABASE "{db}" FROM PUBLIC')
            await conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{db}" TO "{role}"')
        finally:
            await conn.close()
        return self.instance.dsn(db, role, password)

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
