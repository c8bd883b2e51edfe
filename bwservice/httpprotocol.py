"""uvicorn's HTTP protocol (httptools) with what one loop turn writes to a connection sent in one
system call.

uvicorn writes an answer's head and its body with two `transport.write` calls, and the event loop
sends each at once: two send(2) calls per answer, where one would do. System calls are the costly
part of a small answer on these machines (41 % of the origin's samples were in write(2) serving the
Prisma 7 workload; a socket send costs several microseconds in a nested VM). So the transport a
connection's protocol writes to here keeps what it is given and sends it all at the end of the loop
turn (`call_soon`): the head and body that one step of the application writes go out together. A
close sends what waits first; an abort drops it, as it would drop what the socket did not take.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A connection's transport whose writes within one loop turn reach the socket as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._waiting: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._waiting:
            self._loop.call_soon(self._send)
        self._waiting.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _send(self) -> None:
        if not self._waiting:
            return
        data = self._waiting[0] if len(self._waiting) == 1 else b"".join(self._waiting)
        self._waiting = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._waiting))

    def close(self) -> None:
        self._send()
        self._transport.close()

    def abort(self) -> None:
        self._waiting = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        # Everything else (reading, extra info, set_protocol for a WebSocket upgrade) is the socket's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # Not an asyncio.Transport subclass: its methods would shadow `__getattr__` with stubs.
        super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, self.loop)))
