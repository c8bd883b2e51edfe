"""The origin's one HTTP layer (origin/http.py `OriginApp`) and its remembered routing (origin/routes.py):
the route that answers is the router's own choice on every request, the first time and every time after,
with the same path parameters; what the router answers without a route (404, 405) stays its answer;
bodies are bounded and operations observed as before. In process, over ASGI (httpx's ASGI transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bwcontract.codes import Code
from bwcontract.keys import KeyClaims
from origin import routes
from origin.caller import Caller
from origin.errors import BadRequest
from origin.http import OriginApp
from origin.observe import Observation, ObservationHub, served


async def named(request: Request) -> JSONResponse:
    return JSONResponse({"route": request.scope["route"].path, "params": request.path_params})


async def reads_body(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


async def refuses(request: Request) -> JSONResponse:
    raise BadRequest("no")


async def serves_one(request: Request) -> JSONResponse:
    served(request).start(_caller(), "v1", "User", "findUnique", None)
    return JSONResponse({"data": None})


def _caller() -> Caller:
    claims = KeyClaims.from_dict({"k": "k1", "w": "w1", "d": "db1", "n": "db", "s": "read-write"})
    return Caller(claims, "r1")


def app(seen: list[Observation] | None = None) -> OriginApp:
    hub = ObservationHub()
    if seen is not None:
        hub.subscribe(seen.append)
    return OriginApp(
        routes=[
            # Earlier routes that also match some paths of later ones: the first full match wins.
            Route("/v1/query", named, methods=["POST"]),
            Route("/v1/{anything}", named, methods=["POST", "GET"]),
            Route("/{version}/{hash}/graphql", named, methods=["POST"]),
            Route("/only-get", named, methods=["GET"]),
            Route("/body", reads_body, methods=["POST"]),
            Route("/refuses", refuses, methods=["POST"]),
            Route("/serves", serves_one, methods=["POST"]),
        ],
        lifespan=None,
        hub=hub,
        max_body_bytes=100,
    )


def client(origin: OriginApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=origin), base_url="http://origin")


async def test_the_router_s_choice_every_time_with_its_path_parameters() -> None:
    async with client(app()) as http:
        for _ in range(3):  # the first request asks the router, the others are remembered
            assert (await http.post("/v1/query")).json() == {"route": "/v1/query", "params": {}}
            assert (await http.post("/v1/other")).json() == {
                "route": "/v1/{anything}",
                "params": {"anything": "other"},
            }
            assert (await http.get("/v1/other")).json()["route"] == "/v1/{anything}"
            for version, digest in (("6.19.0", "abc"), ("6.19.1", "def")):
                assert (await http.post(f"/{version}/{digest}/graphql")).json() == {
                    "route": "/{version}/{hash}/graphql",
                    "params": {"version": version, "hash": digest},
                }


async def test_what_the_router_answers_without_a_route_stays_its_answer() -> None:
    async with client(app()) as http:
        for _ in range(2):
            assert (await http.post("/only-get")).status_code == 405
            assert (await http.get("/nowhere/at/all")).status_code == 404


async def test_many_paths_with_ids_in_them_are_still_routed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "MAX_REMEMBERED", 8)
    origin = app()
    async with client(origin) as http:
        for n in range(20):  # past the memory's bound it starts afresh
            assert (await http.post(f"/v1/tx-{n}")).json()["params"] == {"anything": f"tx-{n}"}
            assert len(origin.routes_seen._chosen) <= 8


async def test_errors_and_the_body_ceiling() -> None:
    async with client(app()) as http:
        refused = await http.post("/refuses")
        assert refused.status_code == 400
        assert refused.headers["prisma-error-code"] == Code.BAD_REQUEST
        assert (await http.post("/body", content=b"x" * 100)).json() == {"bytes": 100}
        too_big = await http.post("/body", content=b"x" * 101)
        assert too_big.status_code == 413
        assert too_big.json()["code"] == Code.BODY_TOO_LARGE

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
            for _ in range(3):
                yield b"x" * 40

        streamed = await http.post("/body", content=chunks())
        assert streamed.status_code == 413


async def test_operations_are_published_once_with_the_bytes_of_the_answer() -> None:
    seen: list[Observation] = []
    async with client(app(seen)) as http:
        answer = await http.post("/serves")
        assert answer.status_code == 200
        await http.post("/v1/query")  # no operation noted: nothing published
    assert [(o.database_id, o.action, o.response_bytes, o.error) for o in seen] == [
        ("db1", "findUnique", len(answer.content), None)
    ]
