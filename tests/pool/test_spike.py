"""A spike: 2,000 concurrent requests against a 20-connection host budget all succeed, and Postgres
never sees more than 20 sessions of the tenants. Sent once straight to the origin (signed the way the
edge signs them) and once through the local edge with the tenants' API keys.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from bwcontract import keys, service
from bwdev.stack import Stack
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user
from tests.hosts.conftest import scratch_base, seeded_tenant, stack_with

pytestmark = pytest.mark.e2e

BUDGET = 20
REQUESTS = 2000
FIND_NOTES = {
    "modelName": "notes",
    "action": "findMany",
    "query": {"arguments": {}, "selection": {"$scalars": True}},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="bw-spike-", dir=scratch_base()))
    root.chmod(0o755)
    running = stack_with(
        root / "stack",
        BREAKWATER_POOL_HOST_BUDGET=str(BUDGET),
        BREAKWATER_POOL_PER_DATABASE="10",  # three databases could want 30: the host budget binds
        BREAKWATER_POOL_WAIT_SECONDS="120",  # two cores serve all three processes of the stack
        BREAKWATER_HOSTS_PAUSE_AFTER="0",
        BREAKWATER_HOSTS_HIBERNATE_AFTER="0",
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def signed_like_the_edge(stack: Stack, api_key: str, body: bytes) -> dict[str, str]:
    values = keys.verify(api_key, [stack.secrets["key_secret"].encode()]).as_dict()
    signature = service.sign(
        stack.secrets["service_secret"].encode(),
        service.origin_audience("o1"),
        values,
        "POST",
        "/v1/query",
        body,
        time.time(),
    )
    return {service.HEADER: signature, "content-type": "application/json"}


async def tenant_sessions(shared: PostgresInstance) -> int:
    conn = await asyncpg.connect(shared.dsn())
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND usename LIKE 'u\\_%'"
            )
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("through", ["origin", "edge"])
async def test_two_thousand_concurrent_requests_on_a_twenty_connection_budget_all_succeed(
    stack: Stack, through: str
) -> None:
    tenants = [await seeded_tenant(stack, "shared") for _ in range(3)]
    shared = PostgresInstance(stack.hosts_root / "instances" / "shared-1", service_user())
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await tenant_sessions(shared))

    body = json.dumps(FIND_NOTES).encode()

    def headers(n: int) -> dict[str, str]:
        tenant = tenants[n % 3]
        if through == "origin":  # signed anew for each request, as the edge does: a signature runs once
            return signed_like_the_edge(stack, tenant.api_key, body)
        return {"authorization": f"Bearer {tenant.api_key}", "content-type": "application/json"}

    base_url = stack.origin_url if through == "origin" else stack.edge_url
    # Many small clients: one client's connection pool slows down with its size.
    limits = httpx.Limits(max_connections=REQUESTS // 20, max_keepalive_connections=REQUESTS // 20)
    clients = [httpx.AsyncClient(base_url=base_url, timeout=180, limits=limits) for _ in range(20)]

    async def request(n: int) -> tuple[int, object]:
        response = await clients[n % 20].post("/v1/query", content=body, headers=headers(n))
        return response.status_code, response.json()

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(*(request(n) for n in range(REQUESTS)))
    finally:
        done.set()
        await watcher
        for client in clients:
            await client.aclose()

    assert results == [(200, {"data": [{"id": 1, "body": "hi"}]})] * REQUESTS
    assert 0 < peak <= BUDGET
    figures = stack.admin("GET", "/admin/pool")
    assert [h["budget"] for h in figures["hosts"]] == [BUDGET]
    spiked = [d for d in figures["databases"] if d["database_id"] in {t.id for t in tenants}]
    assert sorted(d["acquired"] for d in spiked) == [REQUESTS // 3, REQUESTS // 3 + 1, REQUESTS // 3 + 1]
    assert sum(d["timeouts"] for d in spiked) == 0
    assert max(d["wait_ms_max"] for d in spiked) > 0  # requests did wait in line
