"""Each database's limits through the edge, on every front: operators read and override them; a query
is cancelled at the timeout even when the tenant turns Postgres's off; bodies and schema uploads over
their limit get 413; results over the response limit get P6009 without the origin holding them;
interactive transactions keep to their maximum and to the idle-in-transaction timeout."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bwcontract import keys, service
from bwdev.processes import StackError
from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.conftest import run_cli as cli
from tests.plans.plans import raw, seq

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def q(model: str | None, action: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action,
        "query": {"arguments": arguments, "selection": {"$scalars": True}},
    }
    if model is not None:
        body["modelName"] = model
    return body


def raw_query(sql: str, action: str = "queryRaw") -> dict[str, Any]:
    return q(None, action, {"query": sql, "parameters": []})


def set_limits(stack: Stack, db: TenantDatabase, **limits: int | None) -> dict[str, Any]:
    return stack.admin("PUT", f"/admin/databases/{db.name}/limits", limits)


@pytest.fixture
async def api(stack: Stack, tenant: TenantDatabase) -> Any:
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {tenant.api_key}"}, timeout=60
    ) as client:
        yield client


async def sleeping(db: TenantDatabase) -> int:
    rows = await db.sql(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid() AND state = 'active'"
    )
    return int(rows[0]["n"])


async def no_sleepers(db: TenantDatabase) -> bool:
    for _ in range(100):
        if await sleeping(db) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


# --- operators -----------------------------------------------------------------------------------


def test_operators_read_and_override_a_databases_limits(stack: Stack, tenant: TenantDatabase) -> None:
    shown = stack.admin("GET", f"/admin/databases/{tenant.name}/limits")
    defaults = {
        "query_timeout_ms": 10_000,
        "transaction_timeout_ms": 15_000,
        "idle_in_transaction_timeout_ms": 20_000,
        "response_bytes": 5 * MiB,
        "request_bytes": 10 * MiB,
        "schema_bytes": 2 * MiB,
        "waiting_requests": 1000,
    }
    plan = {"name": "unlimited", "limits": {}}  # the `default` workspace's plan sets none
    assert shown == {
        "database": tenant.name,
        "limits": defaults,
        "overrides": {},
        "defaults": defaults,
        "plan": plan,
    }
    changed = set_limits(stack, tenant, query_timeout_ms=5000, response_bytes=MiB)
    assert changed["overrides"] == {"query_timeout_ms": 5000, "response_bytes": MiB}
    assert changed["limits"] == {**defaults, "query_timeout_ms": 5000, "response_bytes": MiB}
    back = set_limits(stack, tenant, query_timeout_ms=None)
    assert back["overrides"] == {"response_bytes": MiB}
    for bad in (
        {"query_timeout_ms": 0},
        {"query_timeout_ms": "5s"},
        {"request_bytes": 64 * MiB},
        {"nope": 1},
    ):
        with pytest.raises(StackError, match=r"\(400\).*BW1001"):
            stack.admin("PUT", f"/admin/databases/{tenant.name}/limits", bad)


def test_the_cli_shows_and_sets_limits(stack: Stack, tenant: TenantDatabase) -> None:
    result = cli(
        stack, "db", "limits", tenant.name, "--set", "query_timeout_ms=2500", "--set", "schema_bytes=4096"
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    assert lines["LIMIT"] == ["LIMIT", "VALUE", "SET", "BY"]
    assert lines["query_timeout_ms"][1:] == ["2500", "this", "database"]
    assert lines["response_bytes"][2:] == ["default"]
    shown = json.loads(cli(stack, "--json", "db", "limits", tenant.name).stdout)
    assert shown["overrides"] == {"query_timeout_ms": 2500, "schema_bytes": 4096}
    reset = json.loads(
        cli(stack, "--json", "db", "limits", tenant.name, "--set", "schema_bytes=default").stdout
    )
    assert reset["overrides"] == {"query_timeout_ms": 2500}
    bad = cli(stack, "db", "limits", tenant.name, "--set", "query_timeout_ms=soon")
    assert bad.returncode == 1 and "not a whole number" in bad.stderr


# --- query timeout -------------------------------------------------------------------------------


async def test_postgres_cancels_a_raw_query_at_the_timeout(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    set_limits(stack, tenant, query_timeout_ms=500)
    response = await api.post("/v1/query", json=raw_query("SELECT pg_sleep(60)"))
    assert (response.status_code, response.json()["code"]) == (504, "P6004")
    assert response.json()["meta"] == {"query_timeout_ms": 500}
    assert await no_sleepers(tenant)


async def test_turning_statement_timeout_off_does_not_escape_the_query_timeout(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    set_limits(stack, tenant, query_timeout_ms=500)
    escape = [raw_query("SET statement_timeout = 0", "executeRaw"), raw_query("SELECT pg_sleep(60)")]
    # A batch: both statements in one request.
    response = await api.post("/v1/query", json={"batch": escape})
    assert (response.status_code, response.json()["code"]) == (504, "P6004")
    assert await no_sleepers(tenant)
    # An interactive transaction: the SET in one request, the sleep in the next.
    started = await api.post("/v1/transaction/start", json={"timeout": 10_000})
    tx = started.json()["id"]
    assert (await api.post(f"/v1/transaction/{tx}/query", json=escape[0])).status_code == 200
    response = await api.post(f"/v1/transaction/{tx}/query", json=escape[1])
    assert (response.status_code, response.json()["code"]) == (504, "P6004")
    assert await no_sleepers(tenant)
    after = await api.post(f"/v1/transaction/{tx}/query", json=raw_query("SELECT 1"))
    assert (after.status_code, after.json()["code"]) == (409, "P2028")
    assert "query timeout" in after.json()["message"]


async def test_a_prisma7_plan_cannot_escape_the_query_timeout(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    set_limits(stack, tenant, query_timeout_ms=500)
    plan = seq(raw("execute", "SET statement_timeout = 0"), raw("query", "SELECT pg_sleep(60)"))
    response = await api.post("/query", json={"operation": "queryRaw", "plan": plan, "params": {}})
    assert (response.status_code, response.json()["code"]) == (504, "P6004")
    assert await no_sleepers(tenant)


# --- request bodies ------------------------------------------------------------------------------


async def test_a_fifty_megabyte_body_gets_413_at_the_edge_and_at_the_origin(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    huge = json.dumps(raw_query("SELECT $1::text")).encode() + b" " * (50 * MiB)
    at_edge = await api.post("/v1/query", content=huge, headers={"content-type": "application/json"})
    assert (at_edge.status_code, at_edge.json()["code"]) == (413, "BW1413")
    assert at_edge.headers["prisma-error-code"] == "BW1413"
    # Straight to the origin, signed as the edge signs: refused before the database is even known.
    claims = keys.verify(tenant.api_key, [stack.secrets["key_secret"].encode()]).as_dict()
    signature = service.sign(
        stack.secrets["service_secret"].encode(), "origin", claims, "POST", "/v1/query", huge, time.time()
    )
    async with httpx.AsyncClient(base_url=stack.origin_url, timeout=60) as origin:
        at_origin = await origin.post("/v1/query", content=huge, headers={service.HEADER: signature})
    assert (at_origin.status_code, at_origin.json()["code"]) == (413, "BW1413")


async def test_a_body_that_does_not_announce_its_size_stops_being_read_at_the_limit(
    api: httpx.AsyncClient,
) -> None:
    async def chunks() -> Any:  # no content-length: chunked, as a streaming client sends it
        yield json.dumps(raw_query("SELECT 1")).encode()
        for _ in range(50):
            yield b" " * MiB

    response = await api.post("/v1/query", content=chunks(), headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (413, "BW1413")


async def test_a_databases_own_body_limit_is_kept_by_the_origin(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    set_limits(stack, tenant, request_bytes=2048)
    small = await api.post("/v1/query", json=raw_query("SELECT 1 AS one"))
    assert small.status_code == 200
    big = await api.post("/v1/query", json=raw_query("SELECT '" + "x" * 4096 + "' AS big"))
    assert (big.status_code, big.json()["code"]) == (413, "BW1413")
    assert big.json()["meta"] == {"limit_bytes": 2048}


async def test_a_prisma6_schema_upload_over_its_limit_is_refused(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    set_limits(stack, tenant, schema_bytes=1024)
    schema = 'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n'
    schema += "".join(f"model M{i} {{\n  id Int @id\n}}\n" for i in range(100))
    upload = base64.b64encode(schema.encode())
    response = await api.put(f"/6.19.3/{hashlib.sha256(upload).hexdigest()}/schema", content=upload)
    assert response.status_code == 413
    assert {k: response.json()[k] for k in ("code", "error_code", "is_panic")} == {
        "code": "BW1413",
        "error_code": "BW1413",
        "is_panic": False,
    }


# --- response size -------------------------------------------------------------------------------

NOTES_PRISMA = (
    'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n'
    "model notes {\n  id Int @id\n  body String\n}\n"
)


async def test_a_result_over_the_response_limit_is_p6009_on_every_front(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    await tenant.sql("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
    await tenant.sql("INSERT INTO notes SELECT n, repeat('x', 1000) FROM generate_series(1, 200) n")
    set_limits(stack, tenant, response_bytes=64 * 1024)
    find = q("notes", "findMany", {})
    small = q("notes", "findMany", {"take": 10})
    v1 = await api.post("/v1/query", json=find)
    assert (v1.status_code, v1.json()["code"]) == (400, "P6009")
    assert (await api.post("/v1/query", json=small)).status_code == 200
    raw_v1 = await api.post("/v1/query", json=raw_query("SELECT * FROM notes"))
    assert (raw_v1.status_code, raw_v1.json()["code"]) == (400, "P6009")
    # Prisma 6 reads query errors from a 200 answer.
    upload = base64.b64encode(NOTES_PRISMA.encode())
    hash_ = hashlib.sha256(upload).hexdigest()
    assert (await api.put(f"/6.19.3/{hash_}/schema", content=upload)).status_code == 200
    p6 = await api.post(f"/6.19.3/{hash_}/graphql", json=find)
    assert p6.status_code == 200 and p6.json()["errors"][0]["user_facing_error"]["error_code"] == "P6009"
    # Prisma 7: a plan's rows become JSON here, so the encoded answer is checked too.
    plan = raw("query", "SELECT * FROM notes")
    p7 = await api.post("/query", json={"operation": "queryRaw", "plan": plan, "params": {}})
    assert (p7.status_code, p7.json()["code"]) == (400, "P6009")


def rss_bytes(stack: Stack, name: str) -> int:
    [pid] = [s.process.pid for s in stack.services if s.name == name]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_a_two_hundred_megabyte_result_is_refused_without_the_origin_holding_it(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    before = rss_bytes(stack, "origin")
    huge = raw_query("SELECT repeat('x', 1000000) AS blob FROM generate_series(1, 200)")
    answers = await asyncio.gather(*(api.post("/v1/query", json=huge) for _ in range(4)))
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(400, "P6009")] * 4
    # Four results of 200 MB in flight: holding them would take 800 MB; reading stops after ~5 MB.
    assert rss_bytes(stack, "origin") - before < 100 * MiB
    assert (await api.post("/v1/query", json=raw_query("SELECT 1 AS one"))).status_code == 200


# --- interactive transactions --------------------------------------------------------------------


async def test_a_transaction_may_not_ask_for_more_than_the_maximum(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    too_long = await api.post("/v1/transaction/start", json={"timeout": 15_001})
    assert (too_long.status_code, too_long.json()["code"]) == (409, "P2028")
    assert too_long.json()["meta"] == {"transaction_timeout_ms": 15_000}
    longest = await api.post("/v1/transaction/start", json={"timeout": 15_000})
    assert longest.status_code == 200
    assert (await api.post(f"/v1/transaction/{longest.json()['id']}/rollback")).status_code == 200
    set_limits(stack, tenant, transaction_timeout_ms=60_000)
    assert (await api.post("/v1/transaction/start", json={"timeout": 30_000})).status_code == 200


async def test_a_session_idle_in_a_transaction_too_long_is_ended_by_postgres(
    stack: Stack, tenant: TenantDatabase, api: httpx.AsyncClient
) -> None:
    set_limits(stack, tenant, idle_in_transaction_timeout_ms=1000)
    started = await api.post("/v1/transaction/start", json={"timeout": 10_000})
    tx = started.json()["id"]
    assert (
        await api.post(f"/v1/transaction/{tx}/query", json=raw_query("SELECT 1 AS one"))
    ).status_code == 200
    await asyncio.sleep(2.5)
    late = await api.post(f"/v1/transaction/{tx}/query", json=raw_query("SELECT 1 AS one"))
    assert (late.status_code, late.json()["code"]) == (409, "P2028")
    assert "session ended" in late.json()["message"]
    assert (await api.post("/v1/query", json=raw_query("SELECT 1 AS one"))).status_code == 200


# --- waiting -------------------------------------------------------------------------------------


async def test_requests_beyond_a_databases_line_get_429(stack: Stack, api: httpx.AsyncClient) -> None:
    tenant = create_tenant(stack, "line")
    set_limits(stack, tenant, waiting_requests=3)
    headers = {"authorization": f"Bearer {tenant.api_key}"}
    sleep = raw_query("SELECT 1 AS one FROM pg_sleep(0.5)")  # a void column is P2010, as in Prisma
    answers = await asyncio.gather(*(api.post("/v1/query", json=sleep, headers=headers) for _ in range(40)))
    codes = [a.json()["code"] if a.status_code != 200 else "ok" for a in answers]
    assert set(codes) == {"ok", "BW1429"}
    assert codes.count("ok") <= 10 + 3  # its pool's connections plus its line
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["meta"]["waiting_requests"] == 3
    assert 1 <= int(refused.headers["retry-after"]) == refused.json()["meta"]["retry_after_seconds"] <= 30
    # Refused by the origin, or by the edge repeating the origin's answer for a moment.
    [figures] = [d for d in stack.admin("GET", "/admin/pool")["databases"] if d["database_id"] == tenant.id]
    assert 1 <= figures["refused"] <= codes.count("BW1429")


async def test_limits_reach_an_open_pool_within_seconds(stack: Stack, tenant: TenantDatabase) -> None:
    conn = await asyncpg.connect(tenant.dsn)
    await conn.close()
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {tenant.api_key}"}, timeout=60
    ) as api:
        show = raw_query("SELECT current_setting('statement_timeout') AS t")
        assert (await api.post("/v1/query", json=show)).json()["data"]["rows"] == [["10s"]]
        set_limits(stack, tenant, query_timeout_ms=4000)
        for _ in range(3):  # the idle connection from before is used once more, then replaced
            rows = (await api.post("/v1/query", json=show)).json()["data"]["rows"]
        assert rows == [["4s"]]


async def test_the_edge_repeats_a_full_lines_answer_for_a_moment(stack: Stack) -> None:
    tenant = create_tenant(stack, "held")
    set_limits(stack, tenant, waiting_requests=1)
    sleep = raw_query("SELECT 1 AS one FROM pg_sleep(0.3)")  # a void column is P2010
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {tenant.api_key}"}, timeout=60
    ) as api:
        # A cold pool: the first request waits for its connection, and the line (one place) is full.
        pending = [asyncio.ensure_future(api.post("/v1/query", json=sleep)) for _ in range(5)]
        refused = None
        for next_done in asyncio.as_completed(pending):
            answer = await next_done
            if answer.status_code == 429:
                refused = answer
                break
        assert refused is not None and refused.json()["code"] == "BW1429"
        [before] = [
            d for d in stack.admin("GET", "/admin/pool")["databases"] if d["database_id"] == tenant.id
        ]
        again = await api.post("/v1/query", json=sleep)
        [after] = [d for d in stack.admin("GET", "/admin/pool")["databases"] if d["database_id"] == tenant.id]
        await asyncio.gather(*pending)
    assert (again.status_code, again.json()) == (429, refused.json())
    assert again.headers["retry-after"] == "1"
    assert after["refused"] == before["refused"]  # the edge answered; the origin never saw it
