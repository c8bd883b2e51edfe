"""Forwarding to origin processes over HTTP with a shared keep-alive connection pool."""

from __future__ import annotations

import httpx

from bwedge.config import EdgeConfig
from bwedge.errors import origin_unreachable
from bwedge.http import EdgeResponse, Headers


class HttpOrigin:
    def __init__(self, config: EdgeConfig, timeout: float = 330.0) -> None:
        self._config = config
        # The origin bounds every query itself; this only catches an origin that hangs.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        base = self._config.origins[origin_id or self._config.default_origin]
        try:
            response = await self._client.request(
                method, base + target, headers=headers.items(), content=body or None
            )
        except httpx.HTTPError as exc:
            raise origin_unreachable(f"{type(exc).__name__}: {exc}") from None
        return EdgeResponse(response.status_code, Headers(response.headers.items()), response.content)

    async def aclose(self) -> None:
        await self._client.aclose()
