"""`cacheStrategy`, `withAccelerateInfo()` and `$accelerate.invalidate` / `invalidateAll` with the real
Prisma Client 7, with and without `relationJoins`. The edge cache and its `POST /invalidate` route are
built separately: these tests skip themselves until the edge answers `/invalidate`, and run as soon as
both pieces are merged. Writes through Prisma 7 invalidate by the tables the origin names in
`x-breakwater-models-written` (here `Post` and `users`)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase
from tests.plans.conftest import NODE_PROJECT, generate_client, tenant_with_tables

pytestmark = [pytest.mark.e2e, pytest.mark.node]


async def cache_tenant(stack: Stack, edge: httpx.AsyncClient) -> TenantDatabase:
    tenant = await tenant_with_tables(stack, "p7cache")
    probe = await edge.post(
        "/invalidate", json={"tags": ["probe"]}, headers={"authorization": f"Bearer {tenant.api_key}"}
    )
    if probe.status_code == 404:
        pytest.skip("the edge has no POST /invalidate yet (the edge cache is merged separately)")
    assert probe.status_code == 200, probe.text
    return tenant


def run(variant: str, tenant: TenantDatabase, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    url = tenant.url.replace("prisma+postgres://localhost", "prisma+postgres://127.0.0.1")
    done = subprocess.run(
        ["node", "cache.mjs", str(generate_client(variant)), url, json.dumps(steps)],
        cwd=NODE_PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("variant", ["joins", "plain"])
async def test_a_cached_read_is_a_hit_until_a_prisma7_write_changes_its_table(
    stack: Stack, edge: httpx.AsyncClient, variant: str
) -> None:
    tenant = await cache_tenant(stack, edge)
    read = {"op": "read", "tag": "a", "ttl": 60}
    assert run(variant, tenant, [read, read, {"op": "write", "tag": "a"}, read, read]) == [
        {"status": "miss", "titles": []},
        {"status": "ttl", "titles": []},
        {"created": "a-1"},
        {"status": "miss", "titles": ["a-1"]},
        {"status": "ttl", "titles": ["a-1"]},
    ]


@pytest.mark.parametrize("variant", ["joins", "plain"])
async def test_invalidate_by_tag_and_invalidate_all(
    stack: Stack, edge: httpx.AsyncClient, variant: str
) -> None:
    tenant = await cache_tenant(stack, edge)
    tagged = {"op": "read", "tag": "b", "ttl": 60, "tags": ["posts"]}
    other = {"op": "read", "tag": "c", "ttl": 60, "tags": ["other"]}
    steps = [tagged, other, tagged, {"op": "invalidate", "tags": ["posts"]}, tagged, other]
    steps += [{"op": "invalidateAll"}, other]
    assert run(variant, tenant, steps) == [
        {"status": "miss", "titles": []},
        {"status": "miss", "titles": []},
        {"status": "ttl", "titles": []},
        {"invalidated": ["posts"]},
        {"status": "miss", "titles": []},
        {"status": "ttl", "titles": []},
        {"invalidated": "all"},
        {"status": "miss", "titles": []},
    ]


@pytest.mark.parametrize("variant", ["joins", "plain"])
async def test_stale_while_revalidate_serves_the_old_result_once(
    stack: Stack, edge: httpx.AsyncClient, variant: str
) -> None:
    tenant = await cache_tenant(stack, edge)
    read = {"op": "read", "tag": "d", "ttl": 1, "swr": 60}
    steps = [read, {"op": "sleep", "ms": 1200}, read]
    results = run(variant, tenant, steps)
    assert results[0] == {"status": "miss", "titles": []}
    assert results[2] == {"status": "swr", "titles": []}
