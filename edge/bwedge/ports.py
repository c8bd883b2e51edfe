"""What the edge core needs from its runtime. The Worker shell implements these over Cloudflare's
APIs (fetch, Durable Objects, Cache API); edge_local implements them on CPython."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .http import EdgeResponse, Headers

Clock = Callable[[], float]


class SqlStorage(Protocol):
    """Durable Object SQLite storage (`ctx.storage.sql.exec`), rows as tuples."""

    def exec(self, sql: str, *params: Any) -> list[tuple[Any, ...]]: ...


class OriginPort(Protocol):
    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        """Send a request to the origin process `origin_id` (None: any origin)."""
        ...


class RevocationsPort(Protocol):
    """The strongly consistent revocation list (a Durable Object in the Worker)."""

    async def is_revoked(self, key_id: str, database_id: str) -> bool: ...

    async def revoke(self, key_ids: list[str], database_ids: list[str]) -> None: ...


class Context(Protocol):
    def wait_until(self, awaitable: Awaitable[Any]) -> None: ...
