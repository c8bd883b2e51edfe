"""The local edge's ASGI adapter: the request `EdgeApp.handle` sees and the answer uvicorn is given."""

from __future__ import annotations

import json
from typing import Any

from bwedge.http import EdgeRequest, EdgeResponse, Headers
from bwedge.ports import Context
from edge_local.server import LocalEdge

ENV = {
    "KEY_SECRET": "k" * 32,
    "SERVICE_SECRET": "s" * 32,
    "ORIGIN_URL": "http://127.0.0.1:9",
    "USAGE_METERING": "off",
    "MAX_REQUEST_BYTES": "100",
}


class Exchange:
    """One request through `LocalEdge.__call__`, the app's `handle` replaced by a recorder."""

    def __init__(self, answer: EdgeResponse | None = None) -> None:
        self.edge = LocalEdge(ENV, None)
        self.seen: list[EdgeRequest] = []
        self.received = 0
        self.sent: list[dict[str, Any]] = []
        self.answer = answer or EdgeResponse(200, Headers({"X-Mixed-Case": "v"}), b"answer")

        async def handle(request: EdgeRequest, ctx: Context) -> EdgeResponse:
            self.seen.append(request)
            return self.answer

        self.edge.app.handle = handle  # type: ignore[method-assign]

    async def run(self, scope: dict[str, Any], chunks: list[bytes]) -> None:
        async def receive() -> dict[str, Any]:
            self.received += 1
            index = self.received - 1
            return {"type": "http.request", "body": chunks[index], "more_body": index < len(chunks) - 1}

        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)

        await self.edge(scope, receive, send)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def http_scope(headers: list[tuple[bytes, bytes]], **extra: Any) -> dict[str, Any]:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("127.0.0.1", 40001),  # never bound: where a request without Host says it arrived
        "path": "/v1/query",
        "raw_path": b"/v1/query",
        "query_string": b"",
        "headers": headers,
    }
    return {**scope, **extra}


async def test_the_app_sees_the_whole_body_the_url_and_the_headers() -> None:
    exchange = Exchange()
    scope = http_scope(
        [(b"host", b"edge.test:1"), (b"authorization", b"Bearer k"), (b"host", b"other.test")],
        raw_path=b"/v1/q%20uery",
        query_string=b"api_key=a&x=1",
    )
    await exchange.run(scope, [b'{"a":', b"", b"1}"])
    (request,) = exchange.seen
    assert (request.method, request.body) == ("POST", b'{"a":1}')
    # The first Host header names the URL's host; the path as it came (raw), with its query.
    assert request.url == "http://edge.test:1/v1/q%20uery?api_key=a&x=1"
    assert request.headers.get("Authorization") == "Bearer k"


async def test_a_body_in_one_message_and_a_request_without_host() -> None:
    exchange = Exchange()
    scope = http_scope([], method="GET", path="/_bw/health")
    del scope["raw_path"]  # optional in ASGI: the path is used
    await exchange.run(scope, [b""])
    (request,) = exchange.seen
    assert (request.url, request.body) == ("http://127.0.0.1:40001/_bw/health", b"")
    assert exchange.received == 1


async def test_the_answer_goes_out_with_lower_case_names_and_its_length() -> None:
    exchange = Exchange(EdgeResponse(203, Headers({"X-Mixed-Case": "v", "Content-Type": "a/b"}), b"12345"))
    await exchange.run(http_scope([(b"host", b"h")]), [b"{}"])
    assert exchange.status == 203
    assert exchange.headers == [(b"x-mixed-case", b"v"), (b"content-type", b"a/b"), (b"content-length", b"5")]
    assert exchange.body == b"12345"


async def test_a_body_over_the_limit_is_refused_and_read_no_further() -> None:
    exchange = Exchange()
    # No content-length: the limit (100 bytes here) is found while reading.
    await exchange.run(http_scope([(b"host", b"h")]), [b"x" * 60, b"x" * 60, b"x" * 60])
    assert exchange.seen == []
    assert exchange.received == 2
    assert (exchange.status, json.loads(exchange.body)["code"]) == (413, "BW1413")
    # Over the limit in one message as well.
    exchange = Exchange()
    await exchange.run(http_scope([(b"host", b"h")]), [b"x" * 101])
    assert (exchange.seen, exchange.status, exchange.received) == ([], 413, 1)


async def test_an_announced_body_over_the_limit_is_never_read() -> None:
    exchange = Exchange()
    await exchange.run(http_scope([(b"host", b"h"), (b"content-length", b"101")]), [b"x" * 101])
    assert (exchange.seen, exchange.received, exchange.status) == ([], 0, 413)
    assert (b"prisma-error-code", b"BW1413") in exchange.headers


def test_headers_cross_the_asgi_boundary_in_latin_1_with_the_last_value_kept() -> None:
    raw = [(b"x-a", b"caf\xe9"), (b"x-b", b"1"), (b"x-a", b"2")]
    decoded = Headers.decoded(raw)
    one_by_one = Headers([(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw])
    assert decoded.items() == one_by_one.items() == [("x-a", "2"), ("x-b", "1")]
    assert (decoded.get("X-A"), decoded.get("x-b")) == ("2", "1")
    mixed = Headers({"X-Mixed": "caf\xe9", "age": "0"})
    mixed["Set-Later"] = "v"
    expected = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in mixed.lower_items()]
    assert mixed.encoded() == expected == [(b"x-mixed", b"caf\xe9"), (b"age", b"0"), (b"set-later", b"v")]
    served = mixed.with_lowered([("age", "5"), ("x-new", "n")])
    assert served.lower_items() == [("x-mixed", "caf\xe9"), ("age", "5"), ("set-later", "v"), ("x-new", "n")]
    assert mixed.get("age") == "0"  # the original is untouched
