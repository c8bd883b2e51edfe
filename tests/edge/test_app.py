from __future__ import annotations

import json
from typing import Any

import pytest

from bwcontract import keys, service
from bwedge.app import EdgeApp
from bwedge.config import EdgeConfig
from bwedge.http import EdgeRequest, EdgeResponse, Headers
from bwedge.revocation import RevocationStore, RevocationView
from tests.edge.test_revocation import Clock, CountingPort, MemorySql

KEY_SECRET = "k" * 32
SERVICE_SECRET = "s" * 32
CLAIMS = keys.KeyClaims("key1", "ws1", "db1", "alpha", "read")


class RecordingOrigin:
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str, str, Headers, bytes]] = []

    async def fetch(
        self, origin_id: str | None, method: str, target: str, headers: Headers, body: bytes
    ) -> EdgeResponse:
        self.seen.append((origin_id, method, target, headers, body))
        return EdgeResponse.json(200, {"data": []}, {"x-origin": "yes", "transfer-encoding": "chunked"})


class NoContext:
    def wait_until(self, awaitable: Any) -> None:
        raise AssertionError("no background work expected")


def make_app() -> tuple[EdgeApp, RecordingOrigin, Clock]:
    clock = Clock()
    config = EdgeConfig.from_env(
        {"KEY_SECRET": KEY_SECRET, "SERVICE_SECRET": SERVICE_SECRET, "ORIGIN_URL": "http://origin"}
    )
    origin = RecordingOrigin()
    revocations = RevocationView(CountingPort(RevocationStore(MemorySql(), clock)), clock, ttl=5)
    return EdgeApp(config, origin, revocations, clock), origin, clock


def request(path: str, key: str | None, body: bytes = b"{}", **headers: str) -> EdgeRequest:
    h = Headers(headers)
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    return EdgeRequest("POST", f"http://edge.test{path}", h, body)


async def test_a_good_key_is_forwarded_signed_without_the_key() -> None:
    app, origin, clock = make_app()
    token = keys.mint(CLAIMS, KEY_SECRET.encode())
    response = await app.handle(request(f"/v1/query?api_key={token}&x=1", None, cookie="c=1"), NoContext())
    assert response.status == 200
    assert response.headers.get("x-origin") == "yes"
    assert "transfer-encoding" not in response.headers
    (_, method, target, headers, body) = origin.seen[0]
    assert target == "/v1/query?x=1"
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["x-forwarded-host"] == "edge.test"
    claims = service.verify(
        headers[service.HEADER],
        [SERVICE_SECRET.encode()],
        service.origin_audience("o1"),
        method,
        target,
        body,
        clock(),
    ).values
    assert claims["d"] == "db1" and claims["s"] == "read" and claims["k"] == "key1"


@pytest.mark.parametrize("key", [None, "", "garbage", "bw1.e30.AAAA"])
async def test_bad_keys_get_p6002_and_never_reach_the_origin(key: str | None) -> None:
    app, origin, _ = make_app()
    response = await app.handle(request("/v1/query", key), NoContext())
    assert response.status == 401
    assert response.headers["Prisma-Error-Code"] == "P6002"
    assert json.loads(response.body)["code"] == "P6002"
    assert origin.seen == []


async def test_a_key_naming_another_database_is_refused() -> None:
    app, _, _ = make_app()
    token = keys.mint(CLAIMS, KEY_SECRET.encode())
    response = await app.handle(request("/v1/query?database=beta", token), NoContext())
    assert response.status == 401 and b"not 'beta'" in response.body
    ok = await app.handle(request("/v1/query?database=alpha", token), NoContext())
    assert ok.status == 200


async def test_a_revocation_pushed_by_the_origin_locks_the_key_out() -> None:
    app, _, clock = make_app()
    token = keys.mint(CLAIMS, KEY_SECRET.encode())
    assert (await app.handle(request("/v1/query", token), NoContext())).status == 200
    body = json.dumps({"key_ids": ["key1"], "database_ids": []}).encode()
    unsigned = EdgeRequest("POST", "http://edge.test/_bw/revocations", Headers(), body)
    assert (await app.handle(unsigned, NoContext())).status == 401
    signature = service.sign(SERVICE_SECRET.encode(), "edge", {}, "POST", "/_bw/revocations", body, clock())
    push = EdgeRequest("POST", "http://edge.test/_bw/revocations", Headers({service.HEADER: signature}), body)
    assert (await app.handle(push, NoContext())).status == 200
    response = await app.handle(request("/v1/query", token), NoContext())
    assert response.status == 401 and b"revoked" in response.body


async def test_revocation_is_asked_once_per_ttl_and_a_revocation_made_elsewhere_is_seen_after_it() -> None:
    clock = Clock()
    port = CountingPort(RevocationStore(MemorySql(), clock))
    config = EdgeConfig.from_env(
        {"KEY_SECRET": KEY_SECRET, "SERVICE_SECRET": SERVICE_SECRET, "ORIGIN_URL": "http://origin"}
    )
    app = EdgeApp(config, RecordingOrigin(), RevocationView(port, clock, ttl=5), clock)
    token = keys.mint(CLAIMS, KEY_SECRET.encode())
    for _ in range(3):  # the first asks; the next two are answered by what this isolate knows
        assert (await app.handle(request("/v1/query", token), NoContext())).status == 200
    assert port.calls == 1
    port.store.revoke(["key1"], [])  # through another isolate: this one trusts its answer for 5 s
    assert (await app.handle(request("/v1/query", token), NoContext())).status == 200
    clock.now += 5
    for _ in range(2):  # asked again, then known to be revoked
        response = await app.handle(request("/v1/query", token), NoContext())
        assert response.status == 401 and b"revoked" in response.body
    assert port.calls == 2
    # A bad key is refused the same way whether or not its revocation is known.
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await app.handle(request("/v1/query", forged), NoContext())).status == 401


async def test_an_edge_signature_is_not_accepted_as_an_origin_one() -> None:
    """The audience is signed: a header the edge made for the origin cannot push revocations."""
    app, _, clock = make_app()
    body = b'{"key_ids":["key1"]}'
    signature = service.sign(
        SERVICE_SECRET.encode(), service.origin_audience("o1"), {}, "POST", "/_bw/revocations", body, clock()
    )
    push = EdgeRequest("POST", "http://edge.test/_bw/revocations", Headers({service.HEADER: signature}), body)
    assert (await app.handle(push, NoContext())).status == 401


async def test_unknown_paths_are_404_before_authentication() -> None:
    app, _, _ = make_app()
    response = await app.handle(request("/nowhere", None), NoContext())
    assert response.status == 404 and json.loads(response.body)["code"] == "BW1404"


async def test_transactions_route_to_the_origin_that_owns_them() -> None:
    app, origin, _ = make_app()
    token = keys.mint(CLAIMS, KEY_SECRET.encode())
    await app.handle(request("/transaction/o1~abc/commit", token), NoContext())
    assert origin.seen[0][0] == "o1"
    unknown = await app.handle(request("/transaction/o9~abc/commit", token), NoContext())
    assert unknown.status == 409


@pytest.mark.parametrize(
    ("length", "refused"),
    [
        (None, None),
        ("", None),
        ("100", None),
        (str(32 * 1024 * 1024), None),
        (str(32 * 1024 * 1024 + 1), 413),
    ],
)
def test_a_body_announced_over_the_limit_is_refused_before_it_is_read(
    length: str | None, refused: int | None
) -> None:
    app, _, _ = make_app()
    answer = app.refuse_body(length)
    assert (answer.status if answer is not None else None) == refused
    if answer is not None:
        assert json.loads(answer.body)["code"] == "BW1413"
        assert answer.headers["Prisma-Error-Code"] == "BW1413"


def test_a_content_length_that_is_not_a_number_is_a_bad_request() -> None:
    app, _, _ = make_app()
    answer = app.refuse_body("lots")
    assert answer is not None and (answer.status, json.loads(answer.body)["code"]) == (400, "BW1001")


async def test_a_body_over_the_limit_never_reaches_the_origin() -> None:
    clock = Clock()
    config = EdgeConfig.from_env(
        {
            "KEY_SECRET": KEY_SECRET,
            "SERVICE_SECRET": SERVICE_SECRET,
            "ORIGIN_URL": "http://origin",
            "MAX_REQUEST_BYTES": "1024",
        }
    )
    origin = RecordingOrigin()
    revocations = RevocationView(CountingPort(RevocationStore(MemorySql(), clock)), clock, ttl=5)
    app = EdgeApp(config, origin, revocations, clock)
    token = keys.mint(CLAIMS, KEY_SECRET.encode())
    assert (await app.handle(request("/v1/query", token, b"x" * 1024), NoContext())).status == 200
    response = await app.handle(request("/v1/query", token, b"x" * 1025), NoContext())
    assert response.status == 413
    assert json.loads(response.body) == {
        "code": "BW1413",
        "message": "The request body is larger than the limit of 1024 bytes (1025 bytes).",
        "hint": "Send less per request (split a createMany into batches).",
    }
    assert len(origin.seen) == 1
