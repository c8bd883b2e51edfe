"""What the cache needs from its runtime: the Cache API and the TagVersions Durable Object."""

from __future__ import annotations

from typing import Protocol

from ..http import EdgeResponse
from .versions import Versions


class ResponseCache(Protocol):
    """`caches.default`: GET-keyed responses that expire by their own `cache-control: max-age`."""

    async def match(self, url: str) -> EdgeResponse | None: ...

    async def put(self, url: str, response: EdgeResponse) -> None: ...


class TagVersionsPort(Protocol):
    """The TagVersions Durable Object of each database (see `versions.TagVersionStore`)."""

    async def read(self, database_id: str, tags: list[str]) -> Versions: ...

    async def bump(self, database_id: str, tags: list[str]) -> Versions: ...

    async def hold(self, database_id: str, tx_id: str, tags: list[str]) -> None: ...

    async def release(self, database_id: str, tx_id: str, commit: bool) -> Versions: ...
