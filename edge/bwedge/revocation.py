"""Revocation of self-describing keys.

A signed key stays valid until the edge learns otherwise, so revocations live in one strongly
consistent place, the `Revocations` Durable Object, which the origin's control plane writes to when a
key is revoked or a database deleted. Each isolate caches answers for a short, configured time
(`revocation_ttl`), which bounds how long a revoked key can still pass at an edge location that
checked it just before. The origin also refuses revoked key ids on every forwarded request.
"""

from __future__ import annotations

from .ports import Clock, RevocationsPort, SqlStorage

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS revoked_keys (key_id TEXT PRIMARY KEY, revoked_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS revoked_databases (database_id TEXT PRIMARY KEY, revoked_at REAL NOT NULL)",
)


class RevocationStore:
    """The Durable Object's logic over its SQLite storage."""

    def __init__(self, sql: SqlStorage, clock: Clock) -> None:
        self._sql = sql
        self._clock = clock
        for statement in SCHEMA:
            sql.exec(statement)

    def revoke(self, key_ids: list[str], database_ids: list[str]) -> None:
        now = self._clock()
        for key_id in key_ids:
            self._sql.exec("INSERT OR IGNORE INTO revoked_keys VALUES (?, ?)", key_id, now)
        for database_id in database_ids:
            self._sql.exec("INSERT OR IGNORE INTO revoked_databases VALUES (?, ?)", database_id, now)

    def is_revoked(self, key_id: str, database_id: str) -> bool:
        rows = self._sql.exec(
            "SELECT 1 FROM revoked_keys WHERE key_id = ? "
            "UNION ALL SELECT 1 FROM revoked_databases WHERE database_id = ? LIMIT 1",
            key_id,
            database_id,
        )
        return bool(rows)


class RevocationView:
    """Per-isolate cache in front of the Durable Object."""

    def __init__(self, port: RevocationsPort, clock: Clock, ttl: float, max_entries: int = 10_000) -> None:
        self._port = port
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._answers: dict[tuple[str, str], tuple[float, bool]] = {}

    def fresh(self, key_id: str, database_id: str) -> bool | None:
        """The answer this isolate may still trust, without a coroutine (the hit path's check); None
        when it must ask (`is_revoked`)."""
        cached = self._answers.get((key_id, database_id))
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        return None

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        now = self._clock()
        cached = self._answers.get((key_id, database_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        revoked = await self._port.is_revoked(key_id, database_id)
        if len(self._answers) >= self._max_entries:
            self._answers.clear()
        self._answers[(key_id, database_id)] = (now + self._ttl, revoked)
        return revoked

    async def revoke(self, key_ids: list[str], database_ids: list[str]) -> None:
        await self._port.revoke(key_ids, database_ids)
        # This isolate learns at once; others within `ttl`.
        self.forget()

    def forget(self) -> None:
        self._answers.clear()
