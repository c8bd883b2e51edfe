"""The local edge's client to its origins (edge_local/originclient.py) against a raw server that
answers as told: keep-alive reuse, what counts as "never sent", answers cut short, chunked answers,
and connections never lent again after anything went wrong on them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from bwedge.config import EdgeConfig
from bwedge.http import Headers
from bwedge.ports import OriginUnreachable
from edge_local.origin import HttpOrigin
from hosts.ports import free_port

# The request's bytes -> what to send back, and whether to close the connection after it.
Answer = Callable[[bytes], tuple[bytes, bool]]


class RawOrigin:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.startswith(b"content-length")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply, close = self.answer(request)
                writer.write(reply)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def raw_origin() -> AsyncIterator[Callable[[Answer], RawOrigin]]:
    started: list[RawOrigin] = []

    def start(answer: Answer) -> RawOrigin:
        origin = RawOrigin(answer)
        started.append(origin)
        return origin

    yield start
    for origin in started:
        if origin.server is not None:
            origin.server.close()


async def serving(origin: RawOrigin) -> HttpOrigin:
    origin.server = await asyncio.start_server(origin.handle, "127.0.0.1", 0)
    config = EdgeConfig(
        key_secrets=(b"k" * 32,),
        service_secrets=(b"s" * 32,),
        origins={"o1": origin.url},
        default_origin="o1",
    )
    return HttpOrigin(config)


def ok(body: bytes = b"{}", extra: bytes = b"", close: bool = False) -> Answer:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)
    return lambda request: (reply, close)


async def test_requests_one_after_another_share_one_connection_and_go_out_as_signed(
    raw_origin: Callable[[Answer], RawOrigin],
) -> None:
    origin = raw_origin(ok(b'{"ok":true}', b"set-cookie: a=1\r\nset-cookie: b=2\r\n"))
    client = await serving(origin)
    try:
        for _ in range(3):
            answer = await client.fetch(
                None, "POST", "/v1/query?x=%2F%27", Headers({"X-Sig": "s1"}), b'{"q":1}'
            )
            assert (answer.status, answer.body) == (200, b'{"ok":true}')
        assert origin.connections == 1
        first = origin.requests[0]
        assert first.startswith(b"POST /v1/query?x=%2F%27 HTTP/1.1\r\n")  # the target byte for byte
        assert b"\r\nX-Sig: s1\r\n" in first and b"\r\ncontent-length: 7\r\n" in first
        assert first.endswith(b'\r\n\r\n{"q":1}')
    finally:
        await client.aclose()


async def test_a_chunked_answer_is_read_whole(raw_origin: Callable[[Answer], RawOrigin]) -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    client = await serving(raw_origin(lambda request: (chunked, False)))
    try:
        answer = await client.fetch(None, "GET", "/_bw/health", Headers(), b"")
        assert answer.body == b"abcde"
    finally:
        await client.aclose()


async def test_no_connection_means_never_sent() -> None:
    config = EdgeConfig(
        key_secrets=(b"k" * 32,),
        service_secrets=(b"s" * 32,),
        origins={"o1": f"http://127.0.0.1:{free_port()}"},  # nobody listens there
        default_origin="o1",
    )
    client = HttpOrigin(config)
    with pytest.raises(OriginUnreachable) as caught:
        await client.fetch(None, "POST", "/v1/query", Headers(), b"{}")
    assert caught.value.delivered is False


async def test_an_answer_cut_short_may_have_run_and_the_next_request_gets_a_new_connection(
    raw_origin: Callable[[Answer], RawOrigin],
) -> None:
    def answer(request: bytes) -> tuple[bytes, bool]:
        if b"/cut" in request:
            return b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", True  # 3 of 10 bytes, then gone
        return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", False

    origin = raw_origin(answer)
    client = await serving(origin)
    try:
        assert (await client.fetch(None, "POST", "/first", Headers(), b"")).body == b"ok"
        with pytest.raises(OriginUnreachable) as caught:
            await client.fetch(None, "POST", "/cut", Headers(), b"")
        assert caught.value.delivered is True  # it reached the origin, which may have run it
        assert (await client.fetch(None, "POST", "/after", Headers(), b"")).body == b"ok"
        assert origin.connections == 2
    finally:
        await client.aclose()


async def test_a_connection_the_origin_closed_while_idle_is_not_used(
    raw_origin: Callable[[Answer], RawOrigin],
) -> None:
    origin = raw_origin(ok(extra=b"connection: close\r\n", close=True))
    client = await serving(origin)
    try:
        for _ in range(3):
            assert (await client.fetch(None, "GET", "/_bw/health", Headers(), b"")).status == 200
        assert origin.connections == 3
    finally:
        await client.aclose()


async def test_a_cancelled_request_leaves_its_connection_closed(
    raw_origin: Callable[[Answer], RawOrigin],
) -> None:
    answered = asyncio.Event()

    def slow(request: bytes) -> tuple[bytes, bool]:
        if b"/slow" in request:
            answered.set()
            return b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial", False  # never finished
        return b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", False

    origin = raw_origin(slow)
    client = await serving(origin)
    try:
        task = asyncio.ensure_future(client.fetch(None, "POST", "/slow", Headers(), b""))
        await answered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await client.fetch(None, "POST", "/next", Headers(), b"")).body == b"ok"
        assert origin.connections == 2  # the cancelled one was not lent again
    finally:
        await client.aclose()


async def test_a_header_that_would_split_the_request_is_refused(
    raw_origin: Callable[[Answer], RawOrigin],
) -> None:
    client = await serving(raw_origin(ok()))
    try:
        with pytest.raises(ValueError):
            await client.fetch(None, "POST", "/a", Headers({"x-a": "1\r\nx-injected: 2"}), b"")
        with pytest.raises(ValueError):
            await client.fetch(None, "POST", "/a b", Headers(), b"")
    finally:
        await client.aclose()
