"""Services started on an inherited listening socket (the stack runner's `--fd`), and the HTTP protocol
they serve with (bwservice/httpprotocol.py: one write per loop turn)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from bwdev.stack import listening_socket
from bwservice.httpprotocol import CoalescingHttpToolsProtocol, CoalescingTransport
from bwservice.serve import accept_without_delay


def test_an_inherited_listener_hands_nodelay_to_the_connections_it_accepts() -> None:
    listener = listening_socket(0)
    try:
        accept_without_delay(listener.fileno())
        assert listener.fileno() >= 0  # still open: only a duplicate view of it was let go
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            # Linux passes the listener's TCP_NODELAY on; without it, small answers wait for the
            # client's delayed ACK (~40 ms each).
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()


class RecordingTransport:
    """The socket's side of a transport: what reached it, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1) if name == "peername" else default


async def test_what_one_loop_turn_writes_reaches_the_socket_in_one_write() -> None:
    socket_side = RecordingTransport()
    transport = CoalescingTransport(socket_side, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"ok")
    assert socket_side.writes == [] and transport.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert socket_side.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the socket's own

    transport.write(b"last words")
    transport.close()  # what waits goes out before the close
    assert socket_side.writes[-1] == b"last words" and socket_side.closed
    transport.write(b"too late")
    await asyncio.sleep(0)
    assert socket_side.writes[-1] == b"last words"


async def test_an_abort_drops_what_waits() -> None:
    socket_side = RecordingTransport()
    transport = CoalescingTransport(socket_side, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert socket_side.writes == [] and socket_side.aborted


async def test_uvicorn_serves_keep_alive_streaming_and_close_through_it() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"one,", b"two,", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
            return
        body = scope["path"].encode()
        headers = [(b"content-length", str(len(body)).encode())]
        if scope["path"] == "/close":
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    listener = listening_socket(0)
    config = uvicorn.Config(app, http=CoalescingHttpToolsProtocol, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        for path in ("/a", "/bb", "/stream", "/close"):
            writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes after /close
        writer.close()
        assert answer.count(b"HTTP/1.1 200 OK") == 4
        assert answer.endswith(b"\r\n\r\n/close")
        assert b"\r\n\r\n/a" in answer and b"\r\n\r\n/bb" in answer
        assert b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n" in answer
    finally:
        server.should_exit = True
        await serving
        listener.close()
