"""An unexpected failure in the origin is answered by the origin (500, a code, the request id) and the
connection stays open, so the edge's other requests on its pooled keep-alive connections never see a
dropped connection (502) because of it. Real uvicorn, the local edge's own client, as in the stack."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwedge.config import EdgeConfig
from bwedge.errors import EdgeError
from bwedge.http import EdgeResponse, Headers
from edge_local.origin import HttpOrigin
from hosts.ports import free_port
from origin.http import OriginApp
from origin.observe import ObservationHub


async def fails(request: Request) -> JSONResponse:
    await asyncio.sleep(0.001)
    raise RuntimeError("a bug")  # before reading the body, as a failure in a request's first steps


async def works(request: Request) -> JSONResponse:
    await asyncio.sleep(0.001)
    return JSONResponse({"ok": True})


def origin_like_app() -> OriginApp:
    """The origin's application class (origin/app.py) with two routes."""
    return OriginApp(
        routes=[Route("/fails", fails, methods=["POST"]), Route("/works", works, methods=["POST"])],
        lifespan=None,
        hub=ObservationHub(),
        max_body_bytes=1000,
    )


@pytest.fixture
async def server() -> AsyncIterator[int]:
    port = free_port()
    # As the stack runs it: uvicorn logs an exception that escapes the app before closing.
    config = uvicorn.Config(origin_like_app(), host="127.0.0.1", port=port, log_level="error")
    running = uvicorn.Server(config)
    task = asyncio.ensure_future(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    yield port
    running.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_failure_is_a_500_with_a_code_and_the_request_id_on_a_connection_that_stays_open(
    server: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        answers = []
        for path in ("/fails", "/works"):  # one connection, one request after the other
            writer.write(
                f"POST {path} HTTP/1.1\r\nhost: o\r\nx-request-id: r-42\r\ncontent-length: 0\r\n\r\n".encode()
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)  # EOF had it been closed
            fields = dict(line.lower().split(b": ", 1) for line in head.strip().split(b"\r\n")[1:])
            answers.append(
                (
                    head.split(b" ")[1],
                    fields,
                    json.loads(await reader.readexactly(int(fields[b"content-length"]))),
                )
            )
        (failed, failed_headers, failed_body), (worked, worked_headers, _) = answers
        assert (failed, worked) == (b"500", b"200")
        assert failed_headers[b"prisma-error-code"] == b"p6000"
        assert b"close" not in failed_headers.get(b"connection", b"") + worked_headers.get(b"connection", b"")
        assert failed_body == {
            "code": "P6000",
            "message": "The origin failed unexpectedly; the error is in its log under this request id.",
            "meta": {"requestId": "r-42"},
        }
    finally:
        writer.close()


async def test_the_edge_never_answers_502_for_a_request_because_another_one_failed(server: int) -> None:
    config = EdgeConfig(
        key_secrets=(b"k" * 32,),
        service_secrets=(b"s" * 32,),
        origins={"o1": f"http://127.0.0.1:{server}"},
        default_origin="o1",
    )
    # Few connections, so a request waits for one and takes it the moment the last answer is read:
    # had the origin closed it after that answer, this request would fail on it.
    origin = HttpOrigin(config)
    paths = ["/fails", "/works"] * 50
    answers: list[object] = []
    try:
        for path in paths:  # each request on the connection the one before it used
            try:
                answers.append(await origin.fetch(None, "POST", path, Headers(), b"{}"))
            except EdgeError as exc:
                answers.append(exc)
    finally:
        await origin.aclose()
    statuses: dict[str, set[object]] = {"/fails": set(), "/works": set()}
    for path, answer in zip(paths, answers, strict=True):
        statuses[path].add(answer.status if isinstance(answer, EdgeResponse | EdgeError) else answer)
    assert statuses == {"/fails": {500}, "/works": {200}}
