"""A lean HTTP/1.1 client for the local edge's requests to its origins: keep-alive connections per
origin, each request written in one `write`, the answer parsed by httptools (uvicorn's parser).

Why not a general client: at the edge's request rates aiohttp's request machinery (its URL, header
and cookie objects, its streams, its timers) was a fifth of the local edge's CPU on a request the
cache does not answer (py-spy, bench/prisma7.py), and httpx cost more. The edge needs little of it:
it sends one request and reads one whole answer, to origins it is configured with, over plain HTTP.

Failures keep the meaning the edge's failover relies on (`bwedge.ports.OriginUnreachable`): only a
connection that could not be made means the request certainly never reached the origin. A pooled
connection the origin closed while idle can fail a request after it was written; the edge treats
that as "may have run", so idle connections are closed after `keepalive_seconds`, before the origin
closes its side (origin/__main__.py), and a connection is never reused once anything went wrong on
it. There is no cap on connections: each request in flight has its own, as each Worker fetch does.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httptools

from bwedge.http import EdgeResponse, Headers


class NotConnected(OSError):
    """No connection to the origin could be made: nothing was sent."""


class ConnectionLost(ConnectionError):
    """The connection failed after the request was (or may have been) written."""


class _Exchange(asyncio.Protocol):
    """One connection to an origin; one request and its answer at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[EdgeResponse] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._status = 0
        self._reusable = False

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self._fail(ConnectionLost("the origin sent bytes nobody asked for"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionLost(f"the origin's answer could not be read: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionLost(f"the connection closed before the answer was complete ({exc or 'EOF'})"))

    # --- httptools callbacks ----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        assert self._parser is not None
        self._reusable = self._parser.should_keep_alive()
        self._parser = None
        answer, self._answer = self._answer, None
        headers, body, self._headers, self._body = self._headers, self._body, [], []  # not kept while idle
        if answer is not None and not answer.done():
            answer.set_result(EdgeResponse(self._status, Headers(headers), b"".join(body)))

    # --- the exchange -----------------------------------------------------------------------------

    async def request(self, head: bytes, body: bytes) -> EdgeResponse:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._headers, self._body, self._reusable = [], [], False
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)  # no copy of a large body just to save a write
        return await self._answer

    @property
    def reusable(self) -> bool:
        return self._reusable and not self.closed and self._parser is None

    def _fail(self, error: Exception) -> None:
        self._reusable = False
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def close(self) -> None:
        self._reusable = False
        if self.transport is not None and not self.closed:
            self.transport.close()


class OriginClient:
    def __init__(
        self, timeout: float = 330.0, connect_timeout: float = 5.0, keepalive_seconds: float = 60.0
    ) -> None:
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive_seconds
        self._idle: dict[tuple[str, int], list[_Exchange]] = {}
        self._addresses: dict[str, tuple[str, int, bytes]] = {}

    async def fetch(self, base: str, method: str, target: str, headers: Headers, body: bytes) -> EdgeResponse:
        """`target` (path and query) goes out byte for byte, as the edge signed it. Raises NotConnected
        when nothing was sent, ConnectionLost or TimeoutError when the request may have run."""
        host, port, host_header = self._address(base)
        if any(c in target for c in " \r\n") or not target.startswith("/"):
            raise ValueError(f"{target!r} is not a request target")
        head = _head(method, target, host_header, headers, body)
        exchange = await self._exchange(host, port)
        try:
            async with asyncio.timeout(self._timeout):
                response = await exchange.request(head, body)
        except BaseException:
            exchange.close()  # an answer may still arrive on it: never lent again
            raise
        if exchange.reusable:
            exchange.idle_since = time.monotonic()
            self._idle.setdefault((host, port), []).append(exchange)
        else:
            exchange.close()
        return response

    def _address(self, base: str) -> tuple[str, int, bytes]:
        found = self._addresses.get(base)
        if found is None:
            parts = urlsplit(base)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"an origin URL is http://host:port, not {base!r}")
            port = parts.port or 80
            found = self._addresses[base] = (parts.hostname, port, parts.netloc.encode("latin-1"))
        return found

    async def _exchange(self, host: str, port: int) -> _Exchange:
        idle = self._idle.get((host, port))
        now = time.monotonic()
        while idle:
            exchange = idle.pop()  # the most recently used: the least likely to be closed
            if exchange.reusable and now - exchange.idle_since < self._keepalive:
                return exchange
            exchange.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, exchange = await loop.create_connection(_Exchange, host, port)
        except (OSError, TimeoutError) as exc:
            raise NotConnected(f"no connection to {host}:{port} ({exc!r})") from None
        return exchange

    def close_idle(self, older_than: float | None = None) -> None:
        """Close idle connections (all of them, or those idle more than `older_than` seconds)."""
        now = time.monotonic()
        for key, idle in list(self._idle.items()):
            keep = [e for e in idle if older_than is not None and now - e.idle_since <= older_than]
            for exchange in idle:
                if exchange not in keep:
                    exchange.close()
            self._idle[key] = keep

    async def aclose(self) -> None:
        self.close_idle()
        self._idle.clear()


def _head(method: str, target: str, host: bytes, headers: Headers, body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), b"host: ", host, b"\r\n"]
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("host", "content-length", "transfer-encoding", "connection"):
            continue  # this client's to say
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"the header {name!r} cannot be sent as it is")
        lines += [name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n"]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += [b"content-length: ", str(len(body)).encode(), b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)
