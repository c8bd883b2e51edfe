"""Forwarding to origin processes over HTTP with keep-alive connections (originclient.py)."""

from __future__ import annotations

from bwedge.config import EdgeConfig
from bwedge.http import EdgeResponse, Headers
from bwedge.ports import OriginUnreachable

from .originclient import NotConnected, OriginClient


class HttpOrigin:
    def __init__(self, config: EdgeConfig, timeout: float = 330.0) -> None:
        self._config = config
        # The origin bounds every query itself; this only catches an origin that hangs. Idle
        # connections close after 60 s, before the origin closes its side (75 s).
        self._client = OriginClient(timeout=timeout, connect_timeout=5.0, keepalive_seconds=60.0)

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        base = self._config.origins[origin_id or self._config.default_origin]
        try:
            # The target goes out byte for byte as the edge signed it (`%2F` stays `%2F`).
            return await self._client.fetch(base, method, target, headers, body)
        except NotConnected as exc:
            raise OriginUnreachable(str(exc), delivered=False) from None
        except (OSError, TimeoutError) as exc:  # after the request was, or may have been, written
            raise OriginUnreachable(f"{type(exc).__name__}: {exc}", delivered=True) from None

    async def aclose(self) -> None:
        await self._client.aclose()
