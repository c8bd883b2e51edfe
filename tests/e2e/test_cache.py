"""The query cache end to end: client → edge (local runtime: Cache API in memory, TagVersions Durable
Objects over SQLite, waitUntil) → origin → real Postgres, with raw HTTP and Prisma's cache headers.

Rows are changed behind the cache's back (plain SQL on the tenant database), so a response that
still shows the old rows can only have come from the cache.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant

pytestmark = pytest.mark.e2e

FIND_POSTS = {
    "modelName": "posts",
    "action": "findMany",
    "query": {"arguments": {"orderBy": [{"id": "asc"}]}, "selection": {"id": True, "title": True}},
}


async def seed(db: TenantDatabase, *titles: str) -> None:
    await db.sql("CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL)")
    await add(db, *titles)


async def add(db: TenantDatabase, *titles: str) -> None:
    for title in titles:
        await db.sql("INSERT INTO posts (title) VALUES ($1)", title)


async def query(
    edge: httpx.AsyncClient, db: TenantDatabase, cache: str | None, tags: str | None = None, body: Any = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {db.api_key}"}
    if cache is not None:
        headers["cache-control"] = cache
    if tags is not None:
        headers["accelerate-cache-tags"] = tags
    return await edge.post("/v1/query", json=body or FIND_POSTS, headers=headers)


def seen(response: httpx.Response) -> tuple[str, list[str]]:
    assert response.status_code == 200, response.text
    return response.headers["accelerate-cache-status"], [row["title"] for row in response.json()["data"]]


async def test_a_cached_read_is_a_miss_then_served_fresh_from_the_cache(
    edge: httpx.AsyncClient, tenant: TenantDatabase
) -> None:
    await seed(tenant, "one", "two")
    first = await query(edge, tenant, "max-age=60")
    assert seen(first) == ("miss", ["one", "two"])
    assert first.json() == {"data": [{"id": 1, "title": "one"}, {"id": 2, "title": "two"}]}
    assert first.headers["x-breakwater-cache"] == "stored"
    produced = parsedate_to_datetime(first.headers["last-modified"]).timestamp()
    assert abs(produced - time.time()) < 5
    await add(tenant, "three")
    hit = await query(edge, tenant, "max-age=60")
    assert seen(hit) == ("ttl", ["one", "two"])
    assert hit.content == first.content and hit.headers["last-modified"] == first.headers["last-modified"]
    assert hit.headers["content-type"] == first.headers["content-type"]
    uncached = await query(edge, tenant, "no-cache")
    assert seen(uncached) == ("none", ["one", "two", "three"])
    assert seen(await query(edge, tenant, None)) == ("none", ["one", "two", "three"])


async def test_past_ttl_the_entry_is_served_stale_and_refreshed_in_the_background(
    edge: httpx.AsyncClient, tenant: TenantDatabase
) -> None:
    await seed(tenant, "one")
    strategy = "max-age=1,stale-while-revalidate=30"
    assert seen(await query(edge, tenant, strategy)) == ("miss", ["one"])
    await add(tenant, "two")
    assert seen(await query(edge, tenant, strategy)) == ("ttl", ["one"])
    await asyncio.sleep(1.05)
    assert seen(await query(edge, tenant, strategy)) == ("swr", ["one"])
    # The refresh ran after that response (waitUntil); the next read finds the new entry fresh.
    for _ in range(100):
        status, titles = seen(await query(edge, tenant, strategy))
        if status == "ttl":
            break
        assert (status, titles) == ("swr", ["one"])
        await asyncio.sleep(0.02)
    assert (status, titles) == ("ttl", ["one", "two"])


async def test_invalidating_a_tag_or_everything_makes_the_next_read_a_miss(
    edge: httpx.AsyncClient, tenant: TenantDatabase
) -> None:
    await seed(tenant, "one")
    auth = {"authorization": f"Bearer {tenant.api_key}"}
    assert seen(await query(edge, tenant, "max-age=60", "posts")) == ("miss", ["one"])
    assert seen(await query(edge, tenant, "max-age=60", "other")) == ("miss", ["one"])
    assert seen(await query(edge, tenant, "max-age=60")) == ("miss", ["one"])
    await add(tenant, "two")

    done = await edge.post("/invalidate", json={"tags": ["posts"]}, headers=auth)
    assert (done.status_code, done.json()) == (200, {"invalidated": {"tags": ["posts"]}})
    assert seen(await query(edge, tenant, "max-age=60", "posts")) == ("miss", ["one", "two"])
    assert seen(await query(edge, tenant, "max-age=60", "other")) == ("ttl", ["one"])
    assert seen(await query(edge, tenant, "max-age=60")) == ("ttl", ["one"])

    done = await edge.post(f"/v1/invalidate?api_key={tenant.api_key}", json={"tags": "all"})
    assert (done.status_code, done.json()) == (200, {"invalidated": {"tags": "all"}})
    assert seen(await query(edge, tenant, "max-age=60", "other")) == ("miss", ["one", "two"])
    assert seen(await query(edge, tenant, "max-age=60")) == ("miss", ["one", "two"])


async def test_invalidating_by_model_reaches_every_query_that_read_it(
    edge: httpx.AsyncClient, tenant: TenantDatabase
) -> None:
    await seed(tenant, "one")
    assert seen(await query(edge, tenant, "max-age=60", "anything"))[0] == "miss"
    await add(tenant, "two")
    done = await edge.post(f"/v1/invalidate?api_key={tenant.api_key}", json={"models": ["posts"]})
    assert done.status_code == 200
    assert seen(await query(edge, tenant, "max-age=60", "anything")) == ("miss", ["one", "two"])


async def test_a_read_only_key_cannot_invalidate(
    edge: httpx.AsyncClient, stack: Stack, tenant: TenantDatabase
) -> None:
    await seed(tenant, "one")
    reader = stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": "read"})["api_key"]
    assert seen(await query(edge, tenant, "max-age=60", "posts"))[0] == "miss"
    refused = await edge.post(
        "/invalidate", json={"tags": ["posts"]}, headers={"authorization": f"Bearer {reader}"}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == refused.headers["prisma-error-code"] == "BW2003"
    assert seen(await query(edge, tenant, "max-age=60", "posts"))[0] == "ttl"


async def test_two_databases_with_one_schema_each_see_only_their_own_cached_rows(
    edge: httpx.AsyncClient, stack: Stack
) -> None:
    a, b = create_tenant(stack, "cachea"), create_tenant(stack, "cacheb")
    await seed(a, "only-a")
    await seed(b, "only-b")
    assert seen(await query(edge, a, "max-age=60")) == ("miss", ["only-a"])
    assert seen(await query(edge, b, "max-age=60")) == ("miss", ["only-b"])
    assert seen(await query(edge, a, "max-age=60")) == ("ttl", ["only-a"])
    assert seen(await query(edge, b, "max-age=60")) == ("ttl", ["only-b"])
    # Invalidating everything in A leaves B's entries alone.
    await edge.post(f"/v1/invalidate?api_key={a.api_key}", json={"tags": "all"})
    assert seen(await query(edge, a, "max-age=60")) == ("miss", ["only-a"])
    assert seen(await query(edge, b, "max-age=60")) == ("ttl", ["only-b"])


async def test_errors_are_never_cached(edge: httpx.AsyncClient, tenant: TenantDatabase) -> None:
    await seed(tenant, "one")
    missing = {**FIND_POSTS, "modelName": "comments"}
    for _ in range(2):
        response = await query(edge, tenant, "max-age=60", body=missing)
        assert response.status_code == 400 and response.json()["code"] == "P2009"
        assert (response.headers["accelerate-cache-status"], response.headers["x-breakwater-cache"]) == (
            "miss",
            "error",
        )
    # Once the table exists, the same query is answered (and cached) normally.
    await tenant.sql("CREATE TABLE comments (id serial PRIMARY KEY, title text NOT NULL)")
    assert seen(await query(edge, tenant, "max-age=60", body=missing)) == ("miss", [])


async def test_concurrent_misses_of_one_query_all_get_the_answer(
    edge: httpx.AsyncClient, tenant: TenantDatabase
) -> None:
    await seed(tenant, "one")
    answers = await asyncio.gather(*(query(edge, tenant, "max-age=60") for _ in range(8)))
    assert all(seen(a) in (("miss", ["one"]), ("ttl", ["one"])) for a in answers)
    assert seen(await query(edge, tenant, "max-age=60")) == ("ttl", ["one"])


async def test_a_write_through_the_edge_makes_the_next_cached_read_fresh(
    edge: httpx.AsyncClient, tenant: TenantDatabase
) -> None:
    """Needs writes in the origin's /v1 front (issue 3); until they exist the origin refuses the
    write and this test is skipped. The pipeline itself is covered in tests/edge/test_cache_layer.py."""
    await seed(tenant, "one")
    assert seen(await query(edge, tenant, "max-age=60"))[0] == "miss"
    create = {
        "modelName": "posts",
        "action": "createOne",
        "query": {"arguments": {"data": {"title": "two"}}, "selection": {"id": True}},
    }
    wrote = await edge.post("/v1/query", json=create, headers={"authorization": f"Bearer {tenant.api_key}"})
    if wrote.status_code == 400 and "not supported" in wrote.text:
        pytest.skip("the origin's /v1 front does not run writes yet (issue 3)")
    assert wrote.status_code == 200, wrote.text
    assert wrote.headers["accelerate-cache-status"] == "none"
    assert seen(await query(edge, tenant, "max-age=60")) == ("miss", ["one", "two"])
