"""Forwarding to origin processes over HTTP with a shared keep-alive connection pool.

aiohttp rather than httpx: at the edge's request rates httpx's pool bookkeeping cost about as much
CPU as the origin's whole request (measured with bench/prisma7.py and bench/engine.py).
"""

from __future__ import annotations

import aiohttp

from bwedge.config import EdgeConfig
from bwedge.errors import origin_unreachable
from bwedge.http import EdgeResponse, Headers


class HttpOrigin:
    def __init__(self, config: EdgeConfig, timeout: float = 330.0) -> None:
        self._config = config
        # The origin bounds every query itself; this only catches an origin that hangs.
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5.0)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that serves the requests.
        if self._session is None:
            # Idle connections close after 60 s, before the origin closes its side (75 s,
            # origin/__main__.py); aiohttp retries GET and PUT once on a dropped pooled connection,
            # never a POST (it may have run).
            connector = aiohttp.TCPConnector(limit=1000, limit_per_host=1000, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        base = self._config.origins[origin_id or self._config.default_origin]
        try:
            async with self._client().request(
                method, base + target, headers=headers.items(), data=body or None, allow_redirects=False
            ) as response:
                payload = await response.read()
                return EdgeResponse(response.status, Headers(response.headers.items()), payload)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise origin_unreachable(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
