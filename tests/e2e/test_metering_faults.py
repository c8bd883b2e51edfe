"""Metering through crashes, and limits that stop and lift, on a stack of its own (services are killed
here; intervals are short, and counted batches are held a moment before they are forgotten so a kill
can land between "counted" and "forgotten").

Exactly once: 10,000 operations (cache hits, misses, writes, batches, interactive transactions, raw
queries, errors) while the origin is killed (-9) in the middle of counting its journal, the edge is
killed in the middle of reporting its hits, and the origin is killed while the edge reports: every
batch that was counted and not yet forgotten is delivered again, and the totals are exactly what the
clients were answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack, StackConfig
from tests.conftest import TenantDatabase, create_tenant
from tests.e2e.metering_support import (
    Tenant,
    control,
    counted_as,
    create,
    figures_of,
    flush,
    raw,
    read,
    seed,
    totals,
)

pytestmark = pytest.mark.e2e

PAUSE_MS = 700


@pytest.fixture(scope="module")
def metered(session_dir: Path) -> Iterator[Stack]:
    pause = str(PAUSE_MS)
    config = StackConfig(
        root=session_dir / "metering-stack",
        durable=False,
        extra_env={
            "BREAKWATER_METER_FLUSH_SECONDS": "0.2",
            "BREAKWATER_METER_FAULT_PAUSE_MS": pause,  # the origin: after a count, before its answer
            "BREAKWATER_LIMITS_INTERVAL_SECONDS": "0.3",
            "BREAKWATER_WEBHOOK_RETRY_SECONDS": "0.2",
            "USAGE_FLUSH_SECONDS": "0.2",
            "LOCAL_USAGE_FAULT_PAUSE_MS": pause,  # the edge: after "counted", before forgetting
            "PLAN_LIMITS_TTL_SECONDS": "0.5",
        },
    )
    with Stack(config) as stack:
        yield stack


@pytest.fixture
async def edge_client(metered: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=metered.edge_url, timeout=60) as client:
        yield client


# --- exactly once through crashes -----------------------------------------------------------------


async def one_round(tenant: Tenant, n: int) -> None:
    """100 operations in 21 requests, of every kind."""
    for i in range(8):  # four cached queries: mostly hits, a miss after a write
        await tenant.query(read(1 + i % 4), "max-age=3600")
    await tenant.query({"batch": [read(1 + j % 3) for j in range(50)]})
    transactional = [create(f"b{n}-{j}") if j % 3 == 0 else read(2) for j in range(33)]
    await tenant.query({"batch": transactional, "transaction": {}})
    for i in range(2):
        await tenant.query(create(f"r{n}-{i}"))
    await tenant.query(read(2), "no-cache")
    await tenant.transaction([read(1), create(f"t{n}"), read(2), read(3)], end=("commit", "rollback")[n % 2])
    await tenant.query(raw("SELECT 1 AS one"))
    failed = await tenant.query(raw("SELECT 1 / 0"))
    assert failed.status_code == 400


async def load(tenant: Tenant, rounds: int, workers: int = 6) -> None:
    numbers = iter(range(1_000_000))

    async def worker(count: int) -> None:
        for _ in range(count):
            await one_round(tenant, next(numbers))

    share = [rounds // workers + (1 if i < rounds % workers else 0) for i in range(workers)]
    await asyncio.gather(*(worker(n) for n in share))


def sealed(folder: Path) -> list[str]:
    return [p.name.removesuffix(".sealed") for p in folder.glob("*.sealed")]


async def counted_not_forgotten(stack: Stack, folder: Path, timeout: float = 15) -> list[str]:
    """Wait until a batch of `folder`'s journal is counted and still on disk (the deliverer holds it
    for PAUSE_MS): a kill now makes it be delivered again."""
    conn = await control(stack)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = sealed(folder)
            if waiting:
                found = await conn.fetch("SELECT id FROM usage_batches WHERE id = ANY($1::text[])", waiting)
                if found:
                    return [r["id"] for r in found]
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    raise AssertionError(f"no batch of {folder} was caught between counted and forgotten")


async def kill(stack: Stack, service: str) -> None:
    await asyncio.get_running_loop().run_in_executor(None, lambda: stack.restart_service(service, kill=True))


async def test_ten_thousand_operations_are_counted_exactly_once_through_crashes(
    metered: Stack, edge_client: httpx.AsyncClient
) -> None:
    tenant = Tenant(edge_client, create_tenant(metered, "faults"))
    bystander = Tenant(edge_client, create_tenant(metered, "bystander"))
    await seed(tenant.db)
    await seed(bystander.db)
    await bystander.query(read(), "max-age=3600")
    await bystander.query(read(), "max-age=3600")
    origin_journal = metered.root / "meter" / "o1"
    edge_journal = metered.root / "edge" / "usage"
    caught: dict[str, list[str]] = {}

    await load(tenant, 25)
    await tenant.query(read(1))  # something to count right now
    caught["origin's own journal"] = await counted_not_forgotten(metered, origin_journal)
    await kill(metered, "origin")

    await load(tenant, 25)
    await tenant.query(read(1), "max-age=3600")
    await tenant.query(read(1), "max-age=3600")  # a hit to report right now
    caught["edge's hits"] = await counted_not_forgotten(metered, edge_journal)
    # The local edge writes its hits' sums to its journal every 50 ms (bwedge/usage.py): a kill -9 within
    # a group's 50 ms loses its hits, by design. What is tested here is that what was written is
    # counted once, so the kill comes after the last hit's group is on disk.
    await asyncio.sleep(0.2)
    await kill(metered, "edge")

    await load(tenant, 25)
    await tenant.query(read(1), "max-age=3600")
    await tenant.query(read(1), "max-age=3600")
    caught["edge's hits, origin killed"] = await counted_not_forgotten(metered, edge_journal)
    await kill(metered, "origin")

    await load(tenant, 25)
    assert tenant.expected.operations == 10_000 + 5
    assert tenant.expected.cache_hits > 300  # the mix has many hits…
    assert tenant.expected.errors == 100

    expected = counted_as(tenant.expected)
    deadline = time.monotonic() + 60
    while figures_of(totals(metered, tenant.db.name)) != expected and time.monotonic() < deadline:
        flush(metered)
        await asyncio.sleep(0.3)
    assert figures_of(totals(metered, tenant.db.name)) == expected
    await asyncio.sleep(1.5)  # whatever was held is delivered again by now…
    flush(metered)
    assert figures_of(totals(metered, tenant.db.name)) == expected  # …and not counted twice
    assert not sealed(origin_journal) and not sealed(edge_journal)
    assert all(caught.values())
    assert figures_of(totals(metered, bystander.db.name)) == counted_as(bystander.expected)

    conn = await control(metered)
    try:
        edge_batches = await conn.fetchval("SELECT count(*) FROM usage_batches WHERE source = 'edge'")
    finally:
        await conn.close()
    assert edge_batches < tenant.expected.cache_hits / 5  # hits travel in batches, not one by one


# --- limits: alerts, P6003, lifting ---------------------------------------------------------------


class Receiver:
    """A webhook endpoint that refuses its first delivery (so the sender must retry)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                status = 500 if not receiver.deliveries else 204
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def until(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_limits_alert_stop_with_p6003_and_lift(metered: Stack, edge_client: httpx.AsyncClient) -> None:
    receiver = Receiver()
    try:
        made = metered.admin("POST", "/admin/workspaces", {"name": "capped"})
        assert made["plan"] == "free" and made["plan_terms"]["operations"] == 100_000
        limits = {"operations": 8, "alerts": [50, 75], "webhook_url": receiver.url}
        set_to = metered.admin("PUT", "/admin/workspaces/capped/limits", limits)
        secret = set_to["limits"]["webhook_secret"]
        assert len(secret) >= 16
        db = metered.admin("POST", "/admin/databases", {"name": "capped-db", "workspace": "capped"})
        tenant = Tenant(edge_client, create_tenant_like(db))
        await seed(tenant.db)

        for _ in range(6):  # 75 %
            assert (await tenant.query(read())).status_code == 200

        async def alerted() -> list[dict[str, Any]]:
            alerts = metered.admin("GET", "/admin/workspaces/capped/alerts")["alerts"]
            done = len(alerts) == 2 and all(a["delivery"] == "delivered" for a in alerts)
            return alerts if done else []

        delivered = await until(alerted)
        assert sorted(a["threshold"] for a in delivered) == [50, 75], delivered
        assert all(a["attempts"] >= 1 for a in delivered)
        for headers, body, _ in receiver.deliveries:
            stamp, mac = (part.split("=", 1)[1] for part in headers["x-breakwater-signature"].split(","))
            wanted = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(mac, wanted)
            assert abs(int(stamp) - time.time()) < 60
        refused, retried = receiver.deliveries[0], receiver.deliveries[1:]
        assert refused[2] == 500
        assert refused[0]["x-breakwater-delivery"] in [h["x-breakwater-delivery"] for h, _, _ in retried]
        assert json.loads(refused[1])["workspace"] == "capped"

        for _ in range(2):  # 100 %
            assert (await tenant.query(read())).status_code == 200

        async def refused_now() -> httpx.Response | None:
            answer = await tenant.edge.post("/v1/query", json=read(), headers=tenant.headers)
            return answer if answer.status_code == 402 else None

        stopped = await until(refused_now)
        assert stopped is not None, "the workspace was not stopped at 100 %"
        assert stopped.headers["prisma-error-code"] == "P6003"
        error = stopped.json()
        assert "of the 8 operations its operations limit allows" in error["message"]
        assert "queries are paused until the month ends" in error["message"]
        assert "breakwater limit set capped --operations" in error["hint"]
        shown = metered.admin("GET", "/admin/workspaces/capped")
        assert shown["enforced"]["state"] == "stopped" and shown["enforced"]["limit"] == "operations"
        assert (await tenant.usage())["limit"]["state"] == "stopped"  # the figures stay readable

        metered.admin("PUT", "/admin/workspaces/capped/limits", {"operations": 1000})
        lifted = await tenant.edge.post("/v1/query", json=read(), headers=tenant.headers)
        assert lifted.status_code == 200, lifted.text  # pushed to the edge before the answer
    finally:
        receiver.close()


async def test_a_graceful_plan_serves_cache_hits_only_then_stops(
    metered: Stack, edge_client: httpx.AsyncClient
) -> None:
    metered.admin("POST", "/admin/plans", {"name": "graceful", "operations": 4, "graceful_stop_percent": 500})
    metered.admin("POST", "/admin/workspaces", {"name": "grace", "plan": "graceful"})
    db = metered.admin("POST", "/admin/databases", {"name": "grace-db", "workspace": "grace"})
    tenant = Tenant(edge_client, create_tenant_like(db))
    await seed(tenant.db)
    for _ in range(4):  # a miss, then hits: 4 operations = 100 %
        assert (await tenant.query(read(), "max-age=3600")).status_code == 200

    async def misses_refused() -> bool:
        answer = await tenant.edge.post("/v1/query", json=read(2), headers=tenant.headers)
        return answer.status_code == 402

    assert await until(misses_refused), "misses were still served at 100 %"
    hit = await tenant.query(read(), "max-age=3600")
    assert (hit.status_code, hit.headers["accelerate-cache-status"]) == (200, "ttl")
    write = await tenant.edge.post("/v1/query", json=create("no"), headers=tenant.headers)
    assert (write.status_code, write.headers["prisma-error-code"]) == (402, "P6003")
    assert "only cached reads are served" in write.json()["message"]

    # Hits count too: at 500 % (20 operations) everything stops.
    async def hits_refused() -> bool:
        answer = await tenant.edge.post(
            "/v1/query", json=read(), headers={**tenant.headers, "cache-control": "max-age=3600"}
        )
        return answer.status_code == 402

    assert await until(hits_refused), "cache hits were still served at 500 %"
    metered.admin("PUT", "/admin/plans/graceful", {"operations": 1000})
    again = await tenant.edge.post("/v1/query", json=create("yes"), headers=tenant.headers)
    assert again.status_code == 200, again.text


def create_tenant_like(made: dict[str, Any]) -> TenantDatabase:
    return TenantDatabase(
        name=made["database"]["name"],
        id=made["database"]["id"],
        api_key=made["api_key"],
        url=made["url"],
        dsn=made["postgres_dsn"],
        key_id=made["key"]["id"],
    )
