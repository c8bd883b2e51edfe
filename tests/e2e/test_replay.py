"""A signed edge→origin request runs once: replaying it, to the origin it was signed for or to any
other, is refused and does not run again (origin/replay.py)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bwcontract import keys, service
from bwdev.stack import Stack
from tests.conftest import TenantDatabase

pytestmark = pytest.mark.e2e

INSERT = json.dumps(
    {"action": "executeRaw", "query": {"arguments": {"query": "INSERT INTO ledger (note) VALUES ('paid')"}}}
).encode()


def signed_like_the_edge(stack: Stack, api_key: str, origin_id: str = "o1") -> dict[str, str]:
    claims = {**keys.verify(api_key, [stack.secrets["key_secret"].encode()]).as_dict(), "rid": "r1"}
    header = service.sign(
        stack.secrets["service_secret"].encode(),
        service.origin_audience(origin_id),
        claims,
        "POST",
        "/v1/query",
        INSERT,
        time.time(),
    )
    return {service.HEADER: header, "content-type": "application/json"}


async def rows(tenant: TenantDatabase) -> int:
    return int((await tenant.sql("SELECT count(*) AS n FROM ledger"))[0]["n"])


async def test_a_replayed_signed_write_is_refused_and_does_not_run(
    stack: Stack, tenant: TenantDatabase
) -> None:
    await tenant.sql("CREATE TABLE ledger (id serial PRIMARY KEY, note text)")
    headers = signed_like_the_edge(stack, tenant.api_key)
    async with httpx.AsyncClient(base_url=stack.origin_url, timeout=30) as origin:
        first = await origin.post("/v1/query", content=INSERT, headers=headers)
        assert (first.status_code, first.json()) == (200, {"data": 1})
        again = await origin.post("/v1/query", content=INSERT, headers=headers)
        assert again.status_code == 409
        assert again.headers["prisma-error-code"] == again.json()["code"] == "BW2010"
        other = await origin.post(
            "/v1/query", content=INSERT, headers=signed_like_the_edge(stack, tenant.api_key, "o2")
        )
        assert (other.status_code, other.json()["code"]) == (401, "BW2001")
    assert await rows(tenant) == 1


async def test_the_same_write_sent_twice_through_the_edge_runs_twice(
    stack: Stack, tenant: TenantDatabase, edge: httpx.AsyncClient
) -> None:
    """The edge signs each request anew: only a captured signature is refused."""
    await tenant.sql("CREATE TABLE ledger (id serial PRIMARY KEY, note text)")
    headers = {"authorization": f"Bearer {tenant.api_key}", "x-request-id": "same-id-both-times"}
    for _ in range(2):
        response = await edge.post("/v1/query", content=INSERT, headers=headers)
        assert response.status_code == 200, response.text
    assert await rows(tenant) == 2
