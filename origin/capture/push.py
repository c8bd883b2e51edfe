"""Event batches from the origin into the edge's queue (`POST /_bw/events/{database}`, signed).

An event too large for one push (the edge hands a batch to its Durable Object in one RPC, which
carries at most 32 MiB) goes ahead of its batch in parts (`POST /_bw/events/{database}/parts/
{offset}/{index}/{count}`), and the batch carries a stub in its place naming the part count. Parts
are idempotent by position, so a retried push simply sends them again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bwcontract import service
from bwcontract.wire import EVENT_PART_PATH, EVENTS_PATH, PARTS_KEY, event_batch

from .reader import PushError

# Characters per part: at most 16 MiB of UTF-8, half the RPC limit, and small enough that the
# Durable Object holds one part, not the whole event, in memory while it writes it to R2.
PART_CHARS = 4 * 1024 * 1024


class EdgePusher:
    def __init__(
        self, edge_url: str, secret: bytes, http: httpx.AsyncClient, part_chars: int = PART_CHARS
    ) -> None:
        self._edge_url = edge_url.rstrip("/")
        self._secret = secret
        self._http = http
        self._part_chars = part_chars

    async def push(self, database_id: str, events: list[str]) -> dict[str, Any]:
        """Store `events` (JSON texts, in commit order) in the database's queue; returns the edge's
        answer once it has stored them durably."""
        sent = [
            await self._parted(database_id, text) if len(text) > self._part_chars else text for text in events
        ]
        body = event_batch(sent).encode()
        return await self._post(database_id, EVENTS_PATH.format(database_id=database_id), body)

    async def _parted(self, database_id: str, text: str) -> str:
        """Send `text` in parts; returns the stub that stands for it in the batch."""
        event = json.loads(text)
        pieces = [text[i : i + self._part_chars] for i in range(0, len(text), self._part_chars)]
        for index, piece in enumerate(pieces):
            path = EVENT_PART_PATH.format(
                database_id=database_id, offset=event["offset"], index=index, count=len(pieces)
            )
            await self._post(database_id, path, piece.encode())
        stub = {k: event[k] for k in ("id", "offset", "modelName", "action") if k in event}
        return json.dumps({**stub, PARTS_KEY: len(pieces)}, separators=(",", ":"))

    async def _post(self, database_id: str, path: str, body: bytes) -> dict[str, Any]:
        signature = service.sign(
            self._secret, "edge", {"op": "events", "d": database_id}, "POST", path, body, time.time()
        )
        try:
            response = await self._http.post(
                self._edge_url + path,
                content=body,
                headers={service.HEADER: signature, "content-type": "application/json"},
                timeout=60.0,
            )
        except httpx.ConnectError as exc:
            # Nothing listens there (the edge restarting): worth trying again soon, at little cost.
            raise PushError(
                f"the edge at {self._edge_url} refused the connection: {exc!r}", refused=True
            ) from None
        except httpx.HTTPError as exc:
            raise PushError(f"the edge at {self._edge_url} could not be reached: {exc!r}") from None
        if response.status_code != 200:
            raise PushError(f"the edge answered {response.status_code}: {response.text[:300]}")
        try:
            answer: dict[str, Any] = json.loads(response.content)
        except ValueError:
            raise PushError("the edge answered with something that is not JSON") from None
        return answer
