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


class QueuesPort(Protocol):
    """The `EventQueue` Durable Objects, one per database."""

    async def append(self, database_id: str, body: str) -> dict[str, Any]:
        """Store a batch of events (`{"events": [...]}`); returns the queue's answer."""
        ...

    async def append_part(
        self, database_id: str, offset: str, index: int, count: int, text: str
    ) -> dict[str, Any]:
        """Store one part of an event too large for a single push (see eventlog.store_part)."""
        ...

    async def connect(self, database_id: str, subscription: dict[str, Any], key_id: str, request: Any) -> Any:
        """Hand a WebSocket upgrade (opened with API key `key_id`) to the database's queue; returns
        the runtime's 101 response."""
        ...

    async def revoke(self, database_id: str, key_ids: list[str], everything: bool) -> int:
        """Close the database's sockets opened with `key_ids` (all of them when `everything`) and
        refuse those keys from now on; returns how many sockets were closed."""
        ...
