"""Control-plane records: workspaces, hosts, databases, API keys."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from bwcontract import keys

from ..limits import NAMES as LIMIT_COLUMNS  # database_limits has a column per limit
from .ids import new_id


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    plan: str
    operations_limit: int | None  # the operator's cap on operations a month (None: the plan's)
    spend_limit: Decimal | None  # on the month's usage charges (None: none)
    alert_percents: tuple[int, ...]
    webhook_url: str | None
    webhook_secret: str | None
    limits_version: int
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> Workspace:
        return cls(**{**dict(row), "alert_percents": tuple(row["alert_percents"])})


_WS_COLUMNS = (
    "id, name, plan, operations_limit, spend_limit, alert_percents, webhook_url, webhook_secret, "
    "limits_version, created_at"
)


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
    moving_since: dt.datetime | None = None  # set while it moves to another host (control/moves.py)


@dataclass(frozen=True)
class ApiKey:
    id: str
    database_id: str
    scope: str
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


_DB_COLUMNS = (
    "id, workspace_id, name, host_id, instance, placement, dsn, created_at, readonly_dsn, moving_since"
)
_READER_LOCK = 0x42575244  # "BWRD": one read-only role made per database at a time
_KEY_COLUMNS = "id, database_id, scope, label, created_at, revoked_at"


class ControlStore:
    def __init__(self, pool: asyncpg.Pool, key_secret: bytes) -> None:
        self.pool = pool
        self._key_secret = key_secret

    async def ensure_workspace(self, name: str, plan: str) -> str:
        """The workspace's id, made on `plan` if it does not exist (an existing one keeps its plan)."""
        row = await self.pool.fetchrow(
            "INSERT INTO workspaces (id, name, plan) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            new_id("ws"),
            name,
            plan,
        )
        return str(row["id"])

    async def create_workspace(self, name: str, plan: str) -> Workspace | None:
        """A new workspace; None if one of that name exists."""
        row = await self.pool.fetchrow(
            f"INSERT INTO workspaces (id, name, plan) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING "
            f"RETURNING {_WS_COLUMNS}",
            new_id("ws"),
            name,
            plan,
        )
        return Workspace.from_row(row) if row else None

    async def workspace_by_name(self, name: str) -> Workspace | None:
        row = await self.pool.fetchrow(f"SELECT {_WS_COLUMNS} FROM workspaces WHERE name = $1", name)
        return Workspace.from_row(row) if row else None

    async def workspace_by_id(self, workspace_id: str) -> Workspace | None:
        row = await self.pool.fetchrow(f"SELECT {_WS_COLUMNS} FROM workspaces WHERE id = $1", workspace_id)
        return Workspace.from_row(row) if row else None

    async def list_workspaces(self) -> list[Workspace]:
        rows = await self.pool.fetch(f"SELECT {_WS_COLUMNS} FROM workspaces ORDER BY created_at")
        return [Workspace.from_row(r) for r in rows]

    async def update_workspace(self, workspace_id: str, changes: dict[str, Any]) -> Workspace:
        """Set some of plan, operations_limit, spend_limit, alert_percents, webhook_url, webhook_secret
        (names from this list only); its limits' version moves on, so alerts fire again."""
        names = [
            n
            for n in (
                "plan",
                "operations_limit",
                "spend_limit",
                "alert_percents",
                "webhook_url",
                "webhook_secret",
            )
            if n in changes
        ]
        assignments = "".join(f", {n} = ${i + 2}" for i, n in enumerate(names))
        row = await self.pool.fetchrow(
            f"UPDATE workspaces SET limits_version = limits_version + 1{assignments} WHERE id = $1 "
            f"RETURNING {_WS_COLUMNS}",
            workspace_id,
            *(changes[n] for n in names),
        )
        return Workspace.from_row(row)

    async def count_databases(self, workspace_id: str) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM databases WHERE workspace_id = $1 AND deleted_at IS NULL", workspace_id
            )
        )

    async def plan_limits(self, database_id: str) -> dict[str, int]:
        """The per-database limits of the database's workspace's plan (origin/limits.py's plan layer)."""
        raw = await self.pool.fetchval(
            "SELECT p.limits FROM databases d JOIN workspaces w ON w.id = d.workspace_id "
            "JOIN plans p ON p.name = w.plan WHERE d.id = $1",
            database_id,
        )
        found = json.loads(raw) if isinstance(raw, str) else (raw or {})
        return {str(k): int(v) for k, v in found.items()}

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

    async def database_by_name(self, name: str) -> Database | None:
        """A live database by its name (names are unique across workspaces)."""
        row = await self.pool.fetchrow(
            f"SELECT {_DB_COLUMNS} FROM databases WHERE name = $1 AND deleted_at IS NULL", name
        )
        return Database(**dict(row)) if row else None

    async def database_by_id(self, database_id: str) -> Database | None:
        row = await self.pool.fetchrow(
            f"SELECT {_DB_COLUMNS} FROM databases WHERE id = $1 AND deleted_at IS NULL", database_id
        )
        return Database(**dict(row)) if row else None

    async def host_of(self, database_id: str) -> str | None:
        """The host a database lives on (also a deleted one's, whose data the host still drops)."""
        found = await self.pool.fetchval("SELECT host_id FROM databases WHERE id = $1", database_id)
        return str(found) if found is not None else None

    async def list_databases(self, workspace_id: str | None = None) -> list[Database]:
        """Live databases, of one workspace or of all."""
        rows = await self.pool.fetch(
            f"SELECT {_DB_COLUMNS} FROM databases "
            "WHERE ($1::text IS NULL OR workspace_id = $1) AND deleted_at IS NULL ORDER BY created_at",
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

    async def active_key_counts(self) -> dict[str, int]:
        """Live keys per database (databases without any are left out)."""
        rows = await self.pool.fetch(
            "SELECT database_id, count(*) AS keys FROM api_keys WHERE revoked_at IS NULL GROUP BY database_id"
        )
        return {str(r["database_id"]): int(r["keys"]) for r in rows}

    async def capture_since(self, database_ids: list[str]) -> dict[str, dt.datetime]:
        """When change capture was turned on, for those of `database_ids` it is on for."""
        rows = await self.pool.fetch(
            "SELECT database_id, enabled_at FROM capture_databases WHERE database_id = ANY($1::text[])",
            database_ids,
        )
        return {str(r["database_id"]): r["enabled_at"] for r in rows}

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
