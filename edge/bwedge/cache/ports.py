"""What the cache needs from its runtime: the Cache API and the TagVersions Durable Object, and the
value that object answers with (`Versions`, carried as JSON over its RPC)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

from ..http import EdgeResponse


@dataclass(frozen=True)
class Versions:
    epoch: int
    seq: int
    tags: dict[str, int] = field(default_factory=dict)  # 0: never bumped

    def to_json(self) -> str:
        return json.dumps({"epoch": self.epoch, "seq": self.seq, "tags": self.tags}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Versions:
        data = json.loads(text)
        return cls(int(data["epoch"]), int(data["seq"]), {str(k): int(v) for k, v in data["tags"].items()})


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
