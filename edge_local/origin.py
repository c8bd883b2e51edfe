"""Forwarding to origin processes over HTTP with a shared keep-alive connection pool.

aiohttp rather than httpx: at the edge's request rates httpx's pool bookkeeping cost about as much
CPU as the origin's whole request (measured with bench/prisma7.py and bench/engine.py).
"""

from __future__ import annotations

import aiohttp
import yarl

from bwedge.config import EdgeConfig
from bwedge.errors import origin_unreachable
from bwedge.http import EdgeResponse, Headers


class HttpOrigin:
    def __init__(self, config: EdgeConfig, timeout: float = 330.0, connections: int = 1000) -> None:
        self._config = config
        self._connections = connections
        # The origin bounds every query itself; this only catches an origin that hangs.
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5.0)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that serves the requests.
        if self._session is None:
            # No cap on connections to the origin: a cap is one line shared by every tenant, where a
            # flooding tenant's requests (waiting at the origin for its database) would hold the
            # victims'. Each request in flight has its own connection, as each Worker fetch does; the
            # origin bounds each database's line and refuses past it at once (BW1429). Idle
            # connections close after 60 s, before the origin closes its side (75 s); aiohttp retries
            # GET and PUT once on a dropped pooled connection, never a POST (it may have run).
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
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
            # encoded=True: the target goes out byte for byte as the edge signed it (yarl would
            # otherwise turn `%2F` or `%27` in a query back into `/` and `'`, and the signature fails).
            url = yarl.URL(base + target, encoded=True)
            async with self._client().request(
                method, url, headers=headers.items(), data=body or None, allow_redirects=False
            ) as response:
                payload = await response.read()
                return EdgeResponse(response.status, Headers(response.headers.items()), payload)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise origin_unreachable(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
