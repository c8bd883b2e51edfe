"""Control-plane records: workspaces, hosts, databases, API keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from bwcontract import keys

from ..limits import NAMES as LIMIT_COLUMNS  # database_limits has a column per limit
from .ids import new_id


@dataclass(frozen=True)
class Database:
    id: str
    workspace_id: str
    name: str
    host_id: str
    instance: str
    placement: str
    dsn: str
    created_at: dt.datetime
    readonly_dsn: str | None = None  # the read-only role's (None: made before read-only roles)


@dataclass(frozen=True)
class ApiKey:
    id: str
    database_id: str
    scope: str
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


_DB_COLUMNS = "id, workspace_id, name, host_id, instance, placement, dsn, created_at, readonly_dsn"
_READER_LOCK = 0x42575244  # "BWRD": one read-only role made per database at a time
_KEY_COLUMNS = "id, database_id, scope, label, created_at, revoked_at"


class ControlStore:
    def __init__(self, pool: asyncpg.Pool, key_secret: bytes) -> None:
        self.pool = pool
        self._key_secret = key_secret

    async def ensure_workspace(self, name: str) -> str:
        row = await self.pool.fetchrow(
            "INSERT INTO workspaces (id, name) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            new_id("ws"),
            name,
        )
        return str(row["id"])

    async def ensure_host(self, host_id: str, url: str) -> None:
        await self.pool.execute(
            "INSERT INTO hosts (id, url) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url",
            host_id,
            url,
        )

    async def insert_database(
        self,
        database_id: str,
        workspace_id: str,
        name: str,
        host_id: str,
        instance: str,
        placement: str,
        dsn: str,
        readonly_dsn: str | None = None,
    ) -> Database:
        row = await self.pool.fetchrow(
            "INSERT INTO databases (id, workspace_id, name, host_id, instance, placement, dsn, readonly_dsn) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_DB_COLUMNS}",
            database_id,
            workspace_id,
            name,
            host_id,
            instance,
            placement,
            dsn,
            readonly_dsn,
        )
        return Database(**dict(row))

    async def readonly_dsn(self, database_id: str, make: Callable[[], Awaitable[str]]) -> str:
        """The database's read-only DSN; `make` (the host agent makes the role) when it has none yet.
        Made once: origins asking at the same time wait for the first (each make sets a new password)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _READER_LOCK, database_id)
            found = await conn.fetchval("SELECT readonly_dsn FROM databases WHERE id = $1", database_id)
            if found:
                return str(found)
            made = await make()
            await conn.execute("UPDATE databases SET readonly_dsn = $2 WHERE id = $1", database_id, made)
            return made

    async def database_by_name(self, workspace_id: str, name: str) -> Database | None:
        row = await self.pool.fetchrow(
            f"SELECT {_DB_COLUMNS} FROM databases "
            "WHERE workspace_id = $1 AND name = $2 AND deleted_at IS NULL",
            workspace_id,
            name,
        )
        return Database(**dict(row)) if row else None

    async def database_by_id(self, database_id: str) -> Database | None:
        row = await self.pool.fetchrow(
            f"SELECT {_DB_COLUMNS} FROM databases WHERE id = $1 AND deleted_at IS NULL", database_id
        )
        return Database(**dict(row)) if row else None

    async def list_databases(self, workspace_id: str) -> list[Database]:
        rows = await self.pool.fetch(
            f"SELECT {_DB_COLUMNS} FROM databases "
            "WHERE workspace_id = $1 AND deleted_at IS NULL ORDER BY created_at",
            workspace_id,
        )
        return [Database(**dict(r)) for r in rows]

    async def mark_deleted(self, database_id: str) -> list[str]:
        """Delete a database record and revoke its keys; returns the revoked key ids."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE databases SET deleted_at = now() WHERE id = $1", database_id)
            rows = await conn.fetch(
                "UPDATE api_keys SET revoked_at = now() "
                "WHERE database_id = $1 AND revoked_at IS NULL RETURNING id",
                database_id,
            )
            await conn.execute("SELECT pg_notify('breakwater_revocations', $1)", database_id)
        return [str(r["id"]) for r in rows]

    async def create_key(self, database: Database, scope: str, label: str = "") -> tuple[ApiKey, str]:
        key_id = new_id("key")
        token = keys.mint(
            keys.KeyClaims(key_id, database.workspace_id, database.id, database.name, scope), self._key_secret
        )
        row = await self.pool.fetchrow(
            f"INSERT INTO api_keys (id, database_id, scope, key_hash, label) VALUES ($1, $2, $3, $4, $5) "
            f"RETURNING {_KEY_COLUMNS}",
            key_id,
            database.id,
            scope,
            keys.key_hash(token),
            label,
        )
        return ApiKey(**dict(row)), token

    async def revoke_key(self, key_id: str) -> tuple[ApiKey, bool] | None:
        """Revoke a key; returns it and whether this call revoked it (False: it was already)."""
        async with self.pool.acquire() as conn, conn.transaction():
            before = await conn.fetchval("SELECT revoked_at FROM api_keys WHERE id = $1 FOR UPDATE", key_id)
            row = await conn.fetchrow(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                f"WHERE id = $1 RETURNING {_KEY_COLUMNS}",
                key_id,
            )
            if row is not None:
                await conn.execute("SELECT pg_notify('breakwater_revocations', $1)", key_id)
        return (ApiKey(**dict(row)), before is None) if row else None

    async def list_keys(self, database_id: str) -> list[ApiKey]:
        rows = await self.pool.fetch(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE database_id = $1 ORDER BY created_at", database_id
        )
        return [ApiKey(**dict(r)) for r in rows]

    async def limit_overrides(self, database_id: str) -> dict[str, int | None]:
        """The operator's overrides of a database's limits (NULL: the default); {} if none."""
        row = await self.pool.fetchrow(
            f"SELECT {', '.join(LIMIT_COLUMNS)} FROM database_limits WHERE database_id = $1", database_id
        )
        return {k: (int(v) if v is not None else None) for k, v in dict(row).items()} if row else {}

    async def set_limit_overrides(self, database_id: str, changes: dict[str, int | None]) -> None:
        """Set (a number) or clear (None) some overrides; the others stay as they are."""
        names = [n for n in LIMIT_COLUMNS if n in changes]  # identifiers from the Limits fields only
        if not names:
            return
        values = [changes[n] for n in names]
        assignments = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        await self.pool.execute(
            f"INSERT INTO database_limits (database_id, {', '.join(names)}) "
            f"VALUES ($1, {', '.join(f'${i + 2}' for i in range(len(names)))}) "
            f"ON CONFLICT (database_id) DO UPDATE SET {assignments}, updated_at = now()",
            database_id,
            *values,
        )

    async def key_is_active(self, key_id: str, database_id: str) -> bool:
        row = await self.pool.fetchrow(
            "SELECT 1 FROM api_keys k JOIN databases d ON d.id = k.database_id "
            "WHERE k.id = $1 AND k.database_id = $2 AND k.revoked_at IS NULL AND d.deleted_at IS NULL",
            key_id,
            database_id,
        )
        return row is not None
