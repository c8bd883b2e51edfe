"""Operations metering end to end on the session's stack: every operation counted once, for its own
database only, cache hits counted at the edge; `GET /v1/usage` shows a key its own database's figures
and nobody else's; storage is sampled without waking a paused instance."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.e2e import test_cache_prisma6 as prisma6
from tests.e2e.metering_support import (
    Tenant,
    counted_as,
    create,
    figures_of,
    flush,
    raw,
    read,
    seed,
    totals,
)
from tests.plans.conftest import NODE_PROJECT, TABLES, generate_client, run_script, tenant_with_tables

pytestmark = pytest.mark.e2e

client_project = prisma6.client_project  # the generated Prisma 6 client (a module fixture)
run6, seed_posts = prisma6.run, prisma6.seed


async def test_each_operation_counts_once_and_only_for_its_own_database(
    stack: Stack, edge: httpx.AsyncClient
) -> None:
    a, b = Tenant(edge, create_tenant(stack, "meta")), Tenant(edge, create_tenant(stack, "metb"))
    for tenant in (a, b):
        await seed(tenant.db)
    statuses = [(await a.query(read(), "max-age=600")).headers["accelerate-cache-status"] for _ in range(3)]
    assert statuses == ["miss", "ttl", "ttl"]  # two answers the origin never saw
    await a.query(read(2))
    await a.query(read(1), "no-cache")
    await a.query(create("three"))
    await a.query({"batch": [read(1), read(2), create("four"), read(3)]})  # a batch of 4 is 4
    await a.query({"batch": [read(1), create("five"), read(2)], "transaction": {}})
    await a.transaction([read(1), create("six")])  # start and commit are not operations
    await a.transaction([create("never")], end="rollback")
    await a.query(raw("SELECT 1 AS one"))
    failed = await a.query(raw("SELECT 1 / 0"))
    assert failed.status_code >= 400
    await b.query(read())
    assert (a.expected.operations, a.expected.cache_hits, a.expected.errors) == (18, 2, 1)

    flush(stack)
    for tenant in (a, b):
        assert figures_of(totals(stack, tenant.db.name)) == counted_as(tenant.expected)
    own = await a.usage()
    assert own["database"] == a.db.name
    assert figures_of(own["totals"]) == counted_as(a.expected)
    assert own["totals"]["average_duration_ms"] > 0
    assert own["totals"]["average_response_bytes"] == round(a.expected.egress_bytes / 18)
    today = dt.datetime.now(dt.UTC).date()
    assert [d["day"] for d in own["days"]] == [today.isoformat()]
    assert own["month"] == today.strftime("%Y-%m") and own["limit"]["state"] == "ok"

    # B's key sees B's figures, whatever it asks for; the figures of A never moved B's.
    theirs = await b.usage()
    assert theirs["database"] == b.db.name and theirs["totals"]["operations"] == 1
    named = await edge.get("/v1/usage", headers=b.headers, params={"database": a.db.name})
    assert (named.status_code, named.headers["prisma-error-code"]) == (401, "P6002")
    by_id = await edge.get("/v1/usage", headers=b.headers, params={"database_id": a.db.id})
    assert by_id.json()["database"] == b.db.name and by_id.json()["totals"]["operations"] == 1
    assert (await a.usage("1999-01"))["totals"]["operations"] == 0
    bad = await edge.get("/v1/usage", headers=a.headers, params={"month": "2026-13"})
    assert (bad.status_code, bad.headers["prisma-error-code"]) == (400, "BW1001")
    unsigned = await edge.get("/v1/usage")
    assert unsigned.status_code == 401

    # Asking for figures and flushing them again counts nothing more.
    flush(stack)
    assert figures_of(totals(stack, a.db.name)) == counted_as(a.expected)


async def test_storage_is_sampled_without_waking_a_paused_instance(stack: Stack) -> None:
    made = stack.admin("POST", "/admin/databases", {"name": "stored-ded", "placement": "dedicated"})
    database, instance = made["database"]["id"], made["database"]["instance"]
    hosts = {"authorization": f"Bearer {stack.secrets['hosts_token']}"}
    with httpx.Client(base_url=stack.hosts_url, headers=hosts, timeout=60) as agent:
        paused = agent.post(f"/databases/{database}/pause")
        assert paused.status_code == 200, paused.text
        assert agent.get(f"/instances/{instance}").json()["state"] == "paused"
        recorded = stack.admin("POST", "/admin/storage/sample")["recorded"]
        assert recorded >= 1
        assert agent.get(f"/instances/{instance}").json()["state"] == "paused"  # not woken
        sample = next(s for s in agent.get("/storage").json()["samples"] if s["database_id"] == database)
    assert sample["source"] == "disk" and sample["bytes"] > 1_000_000  # a whole data directory
    listed = stack.admin("GET", "/admin/usage")["databases"]
    assert next(d for d in listed if d["database_id"] == database)["storage_bytes"] == sample["bytes"]
    stack.admin("DELETE", "/admin/databases/stored-ded")


# --- real Prisma clients ---------------------------------------------------------------------------


def prisma7(tenant: TenantDatabase, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    url = tenant.url.replace("prisma+postgres://localhost", "prisma+postgres://127.0.0.1")
    done = subprocess.run(
        ["node", "cache.mjs", str(generate_client("plain")), url, json.dumps(steps)],
        cwd=NODE_PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def database_in(stack: Stack, workspace: str, name: str) -> TenantDatabase:
    return create_tenant(stack, name=name, workspace=workspace)


@pytest.mark.node
async def test_prisma_6_and_7_clients_are_counted_exactly_and_see_p6003_as_a_known_error(
    stack: Stack, edge: httpx.AsyncClient, client_project: Path
) -> None:
    six = create_tenant(stack, "metp6")
    await seed_posts(six, "one")
    read6 = {"op": "read", "ttl": 60}
    done = run6(client_project, six.url, read6, read6, {"op": "write", "title": "two"}, {"op": "batch"})
    assert [r.get("status") for r in done] == ["miss", "ttl", None, None] and done[3] == {"batch": 3}
    seven = await tenant_with_tables(stack, "metp7")
    read7 = {"op": "read", "tag": "a", "ttl": 60}
    done = prisma7(seven, [read7, read7, {"op": "write", "tag": "a"}, read7])
    assert [r.get("status") for r in done] == ["miss", "ttl", None, "miss"]
    flush(stack)
    for tenant, operations in ((six, 6), (seven, 4)):
        found = (await Tenant(edge, tenant).usage())["totals"]
        assert (found["operations"], found["cache_hits"], found["errors"]) == (operations, 1, 0), tenant.name

    # A workspace without operations left: both clients get P6003 as a known request error.
    stack.admin("POST", "/admin/workspaces", {"name": "spent"})
    spent6, spent7 = database_in(stack, "spent", "spent-p6"), database_in(stack, "spent", "spent-p7")
    await seed_posts(spent6, "one")
    await run_script(spent7.dsn, TABLES.read_text())
    shown = stack.admin("PUT", "/admin/workspaces/spent/limits", {"operations": 0})
    assert shown["enforced"]["state"] == "stopped"
    for failed in (run6(client_project, spent6.url, read6)[0], prisma7(spent7, [read7])[0]):
        assert failed["code"] == "P6003", failed
        assert failed["name"] == "PrismaClientKnownRequestError", failed
        assert "operations this month" in failed["error"]
    stack.admin("PUT", "/admin/workspaces/spent/limits", {"operations": None})  # the plan's 100,000
    assert run6(client_project, spent6.url, read6)[0]["status"] == "miss"
