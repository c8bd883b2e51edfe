"""Event batches from the origin into the edge's queue (`POST /_bw/events/{database}`, signed)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bwedge import service

from .reader import PushError

PATH = "/_bw/events/{database_id}"


class EdgePusher:
    def __init__(self, edge_url: str, secret: bytes, http: httpx.AsyncClient) -> None:
        self._edge_url = edge_url.rstrip("/")
        self._secret = secret
        self._http = http

    async def push(self, database_id: str, events: list[str]) -> dict[str, Any]:
        """Store `events` (JSON texts, in commit order) in the database's queue; returns the edge's
        answer once it has stored them durably."""
        path = PATH.format(database_id=database_id)
        body = ('{"events":[' + ",".join(events) + "]}").encode()
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
        except httpx.HTTPError as exc:
            raise PushError(f"the edge at {self._edge_url} could not be reached: {exc!r}") from None
        if response.status_code != 200:
            raise PushError(f"the edge answered {response.status_code}: {response.text[:300]}")
        try:
            answer: dict[str, Any] = json.loads(response.content)
        except ValueError:
            raise PushError("the edge answered with something that is not JSON") from None
        return answer
