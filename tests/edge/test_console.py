"""The edge's part in the console: forwarded without an API key, signed as the console's (never as
a key's), with the cookie it strips everywhere else, and a small body."""

from __future__ import annotations

import json

import pytest

from bwcontract import keys, service
from bwcontract.wire import CONSOLE_CLAIM
from bwedge import routes
from bwedge.http import EdgeRequest, Headers
from tests.edge.test_app import CLAIMS, KEY_SECRET, SERVICE_SECRET, NoContext, make_app


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/console", "console"),
        ("GET", "/console/", "console"),
        ("GET", "/console/databases/shop-1", "console"),
        ("POST", "/console/databases/shop_1/keys/keyabc/revoke", "console"),
        ("GET", "/console/static/console.css", "console"),
        ("GET", "/console/a/b/c/d/e/f/g", None),  # deeper than any console page
        ("GET", "/console/../v1/query", None),
        ("GET", "/console/%2e%2e", None),
        ("PUT", "/console/login", None),
        ("GET", "/consoles", None),
        ("GET", "/_bw/events/db1/figures", "events_figures"),
    ],
)
def test_console_paths_are_recognised_and_nothing_else(method: str, path: str, kind: str | None) -> None:
    found = routes.classify(method, path)
    assert (found.kind if found else None) == kind


async def test_a_console_request_needs_no_key_and_is_signed_as_the_consoles_with_its_cookie() -> None:
    app, origin, clock = make_app()
    request = EdgeRequest(
        "POST",
        "http://edge.test/console/login",
        Headers({"cookie": "bw_console=abc", "authorization": "Bearer x", "content-type": "x"}),
        b"secret=1",
    )
    response = await app.handle(request, NoContext())
    assert response.status == 200
    (_, method, target, headers, body) = origin.seen[0]
    assert (method, target, body) == ("POST", "/console/login", b"secret=1")
    assert headers["cookie"] == "bw_console=abc" and "authorization" not in headers
    claims = service.verify(
        headers[service.HEADER],
        [SERVICE_SECRET.encode()],
        service.origin_audience("o1"),
        method,
        target,
        body,
        clock(),
    ).values
    assert claims[CONSOLE_CLAIM] == "1" and "k" not in claims and "d" not in claims
    with pytest.raises((KeyError, ValueError)):
        keys.KeyClaims.from_dict(claims)  # a console request never passes for a key's


async def test_a_keys_request_carries_no_cookie_and_no_console_claim() -> None:
    app, origin, clock = make_app()
    token = keys.mint(CLAIMS, KEY_SECRET.encode())
    headers = Headers({"authorization": f"Bearer {token}", "cookie": "bw_console=abc"})
    await app.handle(EdgeRequest("POST", "http://edge.test/v1/query", headers, b"{}"), NoContext())
    forwarded = origin.seen[0][3]
    assert "cookie" not in forwarded
    claims = service.verify(
        forwarded[service.HEADER],
        [SERVICE_SECRET.encode()],
        service.origin_audience("o1"),
        "POST",
        "/v1/query",
        b"{}",
        clock(),
    ).values
    assert CONSOLE_CLAIM not in claims


async def test_a_console_body_over_64_kib_never_reaches_the_origin() -> None:
    app, origin, _ = make_app()
    big = EdgeRequest("POST", "http://edge.test/console/login", Headers(), b"x" * (64 * 1024 + 1))
    response = await app.handle(big, NoContext())
    assert (response.status, json.loads(response.body)["code"]) == (413, "BW1413")
    assert origin.seen == []
