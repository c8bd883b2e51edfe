"""Query insights through the real stack: client → edge → origin → the tenant's Postgres, statistics
counted in the control plane, recommendations read back with the database's key (`GET /v1/insights`).

Each rule is provoked by a workload built for it and stays silent on a clean workload of the same
size; the index recommendation goes away once the index it proposes is made.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.e2e.test_cli import cli

pytestmark = pytest.mark.e2e

PEOPLE = 20_000


def op(model: str, action: str, arguments: dict[str, Any], selection: Any = None) -> dict[str, Any]:
    return {
        "modelName": model,
        "action": action,
        "query": {"arguments": arguments, "selection": selection or {"$scalars": True}},
    }


async def send(edge: httpx.AsyncClient, db: TenantDatabase, body: Any, cache: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {db.api_key}"}
    if cache:
        headers["cache-control"] = cache
    response = await edge.post("/v1/query", json=body, headers=headers)
    return response


async def insights(
    edge: httpx.AsyncClient, db: TenantDatabase, stack: Stack, window: str = "hour"
) -> dict[str, Any]:
    stack.admin("POST", "/admin/usage/flush")  # the edge's hits counted now
    response = await edge.get(
        f"/v1/insights?window={window}", headers={"authorization": f"Bearer {db.api_key}"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def rules_of(found: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [r for r in found["recommendations"] if r["rule"] == rule]


async def seed_people(db: TenantDatabase) -> None:
    await db.sql(
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, team int NOT NULL, "
        "bio text NOT NULL DEFAULT '')"
    )
    await db.sql(
        "INSERT INTO people SELECT g, 'person' || g || '@example.com', g % 50, '' "
        "FROM generate_series(1, $1) g",
        PEOPLE,
    )
    await db.sql("ANALYZE people")


@pytest.fixture(scope="module")
def people(stack: Stack) -> TenantDatabase:
    db = create_tenant(stack, "ins")
    asyncio.run(seed_people(db))
    return db


async def test_statistics_agree_with_the_requests_sent(stack: Stack, edge: httpx.AsyncClient) -> None:
    db = create_tenant(stack, "stat")
    await db.sql("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
    await db.sql("INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 30) g")
    first = op("notes", "findUnique", {"where": {"id": 1}})
    for i in range(1, 8):
        assert (await send(edge, db, op("notes", "findUnique", {"where": {"id": i}}))).status_code == 200
    missing = await send(edge, db, op("notes", "findUniqueOrThrow", {"where": {"id": 999}}))
    assert missing.status_code == 400
    for _ in range(3):  # one miss, then two answers from the edge's cache
        assert (
            await send(edge, db, op("notes", "findMany", {"take": 5}), cache="max-age=60")
        ).status_code == 200
    found = await insights(edge, db, stack)
    shapes = {(s["action"], s["calls"]) for s in found["shapes"]}
    assert shapes == {("findUnique", 7), ("findUniqueOrThrow", 1), ("findMany", 1)}
    by_action = {s["action"]: s for s in found["shapes"]}
    unique = by_action["findUnique"]
    assert unique["errors"] == 0 and unique["rows"] == {"avg": 1.0, "max": 1, "counted_calls": 7}
    assert unique["latency_ms"]["p50"] is not None and unique["latency_ms"]["total"] > 0
    assert by_action["findUniqueOrThrow"]["errors"] == 1
    listed = by_action["findMany"]
    assert listed["cache"] == {"hits": 2, "stale": 0, "shared": 0, "misses": 1, "hit_ratio": 0.6667}
    assert listed["rows"]["max"] == 5
    assert first["modelName"] == "notes"
    assert found["database"] == db.name and found["window"] == "hour"


async def test_an_unindexed_filter_gets_its_index_and_the_recommendation_goes_once_it_exists(
    stack: Stack, edge: httpx.AsyncClient, people: TenantDatabase
) -> None:
    for i in range(5):
        by_email = op("people", "findFirst", {"where": {"email": f"person{i}@example.com"}})
        assert (await send(edge, people, by_email)).status_code == 200
        by_id = op("people", "findFirst", {"where": {"id": i + 1}})  # clean: the primary key
        assert (await send(edge, people, by_id)).status_code == 200
    found = await insights(edge, people, stack)
    [unindexed] = rules_of(found, "unindexed_filter")
    assert unindexed["fix"] == 'CREATE INDEX CONCURRENTLY "people_email_idx" ON "public"."people" ("email");'
    assert unindexed["evidence"]["plan"]["table_rows"] >= PEOPLE * 0.9
    assert unindexed["evidence"]["plan"]["filter"] == "(t0.email = $1)"
    assert found["hypopg"] is True
    estimate = unindexed["estimate"]
    assert estimate["uses_index"] is True and estimate["cost_after"] < estimate["cost_before"] / 10
    text = str(found)
    assert "person0@example.com" not in text and "person4@example.com" not in text  # no values
    await people.sql(unindexed["fix"].rstrip(";"))
    assert rules_of(await insights(edge, people, stack), "unindexed_filter") == []
    await people.sql('DROP INDEX "people_email_idx"')


async def test_an_unindexed_order_under_take_gets_its_index(
    stack: Stack, edge: httpx.AsyncClient, people: TenantDatabase
) -> None:
    latest = op("people", "findMany", {"orderBy": [{"bio": "desc"}], "take": 5}, {"id": True})
    assert (await send(edge, people, latest)).status_code == 200
    [ordered] = rules_of(await insights(edge, people, stack), "unindexed_order")
    # The engine orders ties by the primary key: the index serves the whole order.
    assert ordered["fix"] == (
        'CREATE INDEX CONCURRENTLY "people_bio_id_idx" ON "public"."people" ("bio" DESC, "id");'
    )
    assert ordered["evidence"]["plan"]["sort"] == ["t0.bio DESC", "t0.id"]
    assert ordered["estimate"]["cost_after"] < ordered["estimate"]["cost_before"]


async def test_a_leading_wildcard_gets_a_trigram_index(
    stack: Stack, edge: httpx.AsyncClient, people: TenantDatabase
) -> None:
    contains = op("people", "findMany", {"where": {"email": {"contains": "99@"}}, "take": 10})
    assert (await send(edge, people, contains)).status_code == 200
    [found] = rules_of(await insights(edge, people, stack), "leading_wildcard")
    assert found["fix"] == (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm; "
        'CREATE INDEX CONCURRENTLY "people_email_trgm" ON "public"."people" USING gin ("email" gin_trgm_ops);'
    )


async def test_reads_without_take_and_deep_skips(
    stack: Stack, edge: httpx.AsyncClient, people: TenantDatabase
) -> None:
    everyone = op("people", "findMany", {"where": {"team": {"lt": 10}}}, {"id": True})
    assert (await send(edge, people, everyone)).status_code == 200
    page = op("people", "findMany", {"orderBy": [{"id": "asc"}], "skip": 15_000, "take": 10}, {"id": True})
    assert (await send(edge, people, page)).status_code == 200
    # Clean, the same number of calls: a page with take, a shallow skip.
    paged = op("people", "findMany", {"where": {"team": {"lt": 10}}, "take": 50}, {"id": True, "team": True})
    assert (await send(edge, people, paged)).status_code == 200
    shallow = op("people", "findMany", {"orderBy": [{"id": "desc"}], "skip": 20, "take": 10}, {"id": True})
    assert (await send(edge, people, shallow)).status_code == 200
    found = await insights(edge, people, stack)
    [unbounded] = rules_of(found, "unbounded_read")
    assert unbounded["evidence"]["avg_rows"] == 4000 and unbounded["action"] == "findMany"
    [deep] = rules_of(found, "deep_skip")
    assert deep["evidence"]["max_skip"] == 15_000


async def test_n_plus_one_bursts_and_the_batched_cure(stack: Stack, edge: httpx.AsyncClient) -> None:
    db = create_tenant(stack, "nplus")
    await db.sql("CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL)")
    await db.sql("INSERT INTO authors SELECT g, 'a' || g FROM generate_series(1, 40) g")
    for i in range(1, 13):  # one request per record, in a loop
        assert (await send(edge, db, op("authors", "findUnique", {"where": {"id": i}}))).status_code == 200
    # Clean, the same size: twelve lookups of another shape in one batch (one request).
    batch = {"batch": [op("authors", "findFirst", {"where": {"id": i}}) for i in range(13, 25)]}
    assert (await send(edge, db, batch)).status_code == 200
    found = await insights(edge, db, stack)
    [burst] = rules_of(found, "n_plus_one")
    assert burst["action"] == "findUnique" and burst["evidence"]["largest_burst"] == 12
    assert burst["evidence"]["bursts"] == 1


async def test_repeated_identical_reads_get_a_ttl(stack: Stack, edge: httpx.AsyncClient) -> None:
    db = create_tenant(stack, "repeat")
    await db.sql("CREATE TABLE prices (id int PRIMARY KEY, amount int NOT NULL)")
    await db.sql("INSERT INTO prices SELECT g, g FROM generate_series(1, 100) g")
    for _ in range(24):
        assert (await send(edge, db, op("prices", "findUnique", {"where": {"id": 7}}))).status_code == 200
    for i in range(24):  # clean: as many reads, all different
        assert (await send(edge, db, op("prices", "findFirst", {"where": {"id": i + 1}}))).status_code == 200
    found = await insights(edge, db, stack)
    [cacheable] = rules_of(found, "cacheable_read")
    assert cacheable["action"] == "findUnique" and cacheable["evidence"]["reads"] == 24
    assert cacheable["estimate"]["hit_ratio"] >= 0.9 and cacheable["estimate"]["ttl"] in (1, 5, 10)
    assert f"ttl: {cacheable['estimate']['ttl']}" in cacheable["fix"]


async def test_over_fetching_a_wide_column(stack: Stack, edge: httpx.AsyncClient) -> None:
    db = create_tenant(stack, "wide")
    await db.sql("CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, payload jsonb NOT NULL)")
    await db.sql(
        "INSERT INTO docs SELECT g, 't' || g, jsonb_build_object('blob', "
        "(SELECT string_agg(md5((g * 100 + k)::text), '') FROM generate_series(1, 60) k)) "
        "FROM generate_series(1, 200) g"
    )
    await db.sql("ANALYZE docs")
    for i in range(5):
        # skip from 1: `skip: 0` is no page, a shape of its own (as in Prisma's engine)
        assert (await send(edge, db, op("docs", "findMany", {"take": 3, "skip": i + 1}))).status_code == 200
        narrow = op("docs", "findMany", {"take": 3, "skip": i + 2}, {"id": True, "title": True})
        assert (await send(edge, db, narrow)).status_code == 200  # clean: a select
    [wide] = rules_of(await insights(edge, db, stack), "over_fetching")
    assert list(wide["evidence"]["columns"]) == ["payload"]
    assert wide["fix"].startswith("Leave them out: `omit: { payload: true }`")


async def test_timeouts_and_long_idle_transactions(stack: Stack, edge: httpx.AsyncClient) -> None:
    db = create_tenant(stack, "slow")
    stack.admin("PUT", f"/admin/databases/{db.name}/limits", {"query_timeout_ms": 200})
    slow = op("", "queryRaw", {"query": "SELECT 1 FROM pg_sleep(0.6)", "parameters": "[]"})
    slow.pop("modelName")
    assert (await send(edge, db, slow)).headers["prisma-error-code"] == "P6004"
    # in a FROM: a void column is P2010, as in Prisma
    quick = op("", "queryRaw", {"query": "SELECT 1 FROM pg_sleep(0.01)", "parameters": "[]"})
    quick.pop("modelName")
    assert (await send(edge, db, quick)).status_code == 200
    idle = await asyncpg.connect(db.dsn)
    try:
        await idle.execute("BEGIN; SELECT 1")
        await asyncio.sleep(5.5)
        found = await insights(edge, db, stack)
    finally:
        await idle.close()
    [timeouts] = rules_of(found, "timeouts")
    assert timeouts["evidence"]["timeouts"] == 1 and timeouts["evidence"]["calls"] == 1
    [transactions] = rules_of(found, "long_transactions")
    assert len(transactions["evidence"]["idle_in_transaction_now"]) == 1
    assert rules_of(await insights(edge, db, stack), "long_transactions") == []


async def test_unused_and_duplicate_indexes(stack: Stack, edge: httpx.AsyncClient) -> None:
    db = create_tenant(stack, "idx")
    await db.sql("CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL, kind int NOT NULL)")
    await db.sql("INSERT INTO tags SELECT g, 'l' || g, g % 3 FROM generate_series(1, 500) g")
    await db.sql("CREATE INDEX tags_id_again ON tags (id)")  # duplicates the primary key
    await db.sql("CREATE INDEX tags_kind ON tags (kind)")  # never used
    await db.sql("CREATE INDEX tags_label ON tags (label)")  # used: clean
    conn = await asyncpg.connect(db.dsn)
    try:
        for i in range(1000):
            await conn.fetchval("SELECT id FROM tags WHERE label = $1", f"l{i % 500 + 1}")
    finally:
        await conn.close()
    await asyncio.sleep(1.2)  # Postgres publishes a session's statistics within a second
    found = await insights(edge, db, stack)
    [duplicate] = rules_of(found, "duplicate_index")
    assert duplicate["fix"] == 'DROP INDEX CONCURRENTLY "public"."tags_id_again";'
    assert "tags_pkey" in duplicate["title"]
    [unused] = rules_of(found, "unused_index")
    assert unused["fix"] == 'DROP INDEX CONCURRENTLY "public"."tags_kind";'


async def test_one_database_never_sees_another_databases_shapes(
    stack: Stack, edge: httpx.AsyncClient
) -> None:
    first, second = create_tenant(stack, "iso"), create_tenant(stack, "iso")
    await first.sql("CREATE TABLE secrets (id int PRIMARY KEY, v text)")
    await second.sql("CREATE TABLE other (id int PRIMARY KEY)")
    for i in range(3):
        assert (await send(edge, first, op("secrets", "findMany", {"take": i + 1}))).status_code == 200
    assert (await send(edge, second, op("other", "findMany", {}))).status_code == 200
    mine = await insights(edge, first, stack)
    theirs = await insights(edge, second, stack)
    assert {s["model"] for s in mine["shapes"]} == {"secrets"}
    assert {s["model"] for s in theirs["shapes"]} == {"other"}
    assert "secrets" not in str(theirs)
    admin = stack.admin("GET", f"/admin/databases/{second.name}/insights?window=hour")
    assert {s["model"] for s in admin["shapes"]} == {"other"}
    bad = await edge.get("/v1/insights?window=year", headers={"authorization": f"Bearer {first.api_key}"})
    assert bad.status_code == 400 and bad.json()["code"] == "BW1001"
    anonymous = await edge.get("/v1/insights")
    assert anonymous.status_code == 401


async def test_the_cli_prints_the_shapes_and_the_recommendations(
    stack: Stack, edge: httpx.AsyncClient, people: TenantDatabase
) -> None:
    for i in range(3):
        by_email = op("people", "findFirst", {"where": {"email": f"person{i}@example.com"}})
        assert (await send(edge, people, by_email)).status_code == 200
    await insights(edge, people, stack)  # counted now
    shown = cli(stack, "insights", people.name, "--window", "hour")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"database {people.name}, last hour")
    assert lines[2].split() == [
        "SHAPE", "OPERATION", "CALLS", "ERRORS", "P50", "MS", "P95", "MS", "P99", "MS", "TOTAL", "MS", "ROWS",
        "BYTES", "HITS/MISSES",
    ]  # fmt: skip
    assert any("people.findFirst" in line for line in lines[3:])
    assert (
        '   fix:      CREATE INDEX CONCURRENTLY "people_email_idx" ON "public"."people" ("email");' in lines
    )
    as_json = json.loads(cli(stack, "--json", "insights", people.name, "--window", "hour").stdout)
    assert as_json["database"] == people.name and as_json["recommendations"]
    missing = cli(stack, "insights", "no-such-db")
    assert missing.returncode == 1 and "no database named" in missing.stderr
