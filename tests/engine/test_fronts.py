"""The `/v1` and Prisma 6 fronts through the edge: batches, transactions, raw SQL, read-only keys,
models headers, and tenant isolation of schemas and transactions."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.engine.conftest import RICH_PRISMA, RICH_SQL
from tests.prisma6.conftest import run_script

pytestmark = pytest.mark.e2e


def q(
    model: str | None, action: str, arguments: dict[str, Any] | None = None, selection: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action,
        "query": {"arguments": arguments or {}, "selection": selection or {"$scalars": True}},
    }
    if model is not None:
        body["modelName"] = model
    return body


@pytest.fixture
async def db(stack: Stack) -> TenantDatabase:
    tenant = create_tenant(stack, "fronts")
    await run_script(tenant.dsn, RICH_SQL)
    return tenant


@pytest.fixture
async def v1(stack: Stack, db: TenantDatabase) -> Any:
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {db.api_key}"}, timeout=30
    ) as client:
        yield client


def read_only_key(stack: Stack, db: TenantDatabase) -> str:
    key: str = stack.admin("POST", "/admin/keys", {"database": db.name, "scope": "read"})["api_key"]
    return key


async def test_a_query_with_an_include_reports_the_models_it_read(v1: httpx.AsyncClient) -> None:
    made = await v1.post(
        "/v1/query",
        json=q(
            "users",
            "createOne",
            {"data": {"email": "a@x.io", "updated_at": "2024-01-01T00:00:00Z"}},
            {"id": True},
        ),
    )
    assert made.status_code == 200 and made.json() == {"data": {"id": 1}}
    assert made.headers["x-breakwater-models-written"] == "users"
    await v1.post(
        "/v1/query", json=q("Post", "createOne", {"data": {"title": "t", "authorId": 1}}, {"id": True})
    )
    found = await v1.post(
        "/v1/query",
        json=q(
            "users", "findMany", {}, {"email": True, "Post": {"arguments": {}, "selection": {"title": True}}}
        ),
    )
    assert found.json() == {"data": [{"email": "a@x.io", "Post": [{"title": "t"}]}]}
    assert found.headers["x-breakwater-models-read"] == "Post,users"
    assert "x-breakwater-models-written" not in found.headers


async def test_a_batch_answers_each_query_and_a_transactional_one_is_all_or_nothing(
    v1: httpx.AsyncClient,
) -> None:
    add = q("Category", "createOne", {"data": {"name": "a"}}, {"name": True})
    batch = await v1.post(
        "/v1/query",
        json={
            "batch": [
                add,
                add,
                q("Category", "aggregate", {}, {"_count": {"arguments": {}, "selection": {"_all": True}}}),
            ]
        },
    )
    assert batch.status_code == 200
    first, second, count = batch.json()["batchResult"]
    assert first == {"data": {"name": "a"}}
    assert second["errors"][0]["code"] == "P2002"
    assert count == {"data": {"_count": {"_all": 1}}}
    failed = await v1.post(
        "/v1/query",
        json={
            "batch": [q("Category", "createOne", {"data": {"name": "b"}}), add],
            "transaction": {"isolationLevel": "Serializable"},
        },
    )
    assert failed.status_code == 400 and failed.json()["code"] == "P2002"
    names = await v1.post("/v1/query", json=q("Category", "findMany", {}, {"name": True}))
    assert names.json() == {"data": [{"name": "a"}]}


async def test_interactive_transactions_commit_roll_back_and_expire(v1: httpx.AsyncClient) -> None:
    async def start(**options: Any) -> str:
        started = await v1.post("/v1/transaction/start", json=options)
        assert started.status_code == 200
        tx: str = started.json()["id"]
        return tx

    add = q("Category", "createOne", {"data": {"name": "kept"}}, {"name": True})
    tx = await start()
    assert (await v1.post(f"/v1/transaction/{tx}/query", json=add)).json() == {"data": {"name": "kept"}}
    assert (await v1.post(f"/v1/transaction/{tx}/commit")).json() == {}
    tx = await start()
    await v1.post(f"/v1/transaction/{tx}/query", json=q("Category", "createOne", {"data": {"name": "gone"}}))
    assert (await v1.post(f"/v1/transaction/{tx}/rollback")).status_code == 200
    again = await v1.post(f"/v1/transaction/{tx}/query", json=add)
    assert again.status_code == 409 and again.json()["code"] == "P2028"
    tx = await start(timeout=50)
    import asyncio

    await asyncio.sleep(0.3)
    late = await v1.post(f"/v1/transaction/{tx}/query", json=add)
    assert late.status_code == 409 and "expired" in late.json()["message"]
    names = await v1.post("/v1/query", json=q("Category", "findMany", {}, {"name": True}))
    assert names.json() == {"data": [{"name": "kept"}]}


async def test_raw_sql_through_v1(v1: httpx.AsyncClient) -> None:
    executed = await v1.post(
        "/v1/query",
        json=q(
            None,
            "executeRaw",
            {"query": 'INSERT INTO "Category" (name) VALUES ($1), ($2)', "parameters": '["x","y"]'},
        ),
    )
    assert executed.json() == {"data": 2}
    assert executed.headers["x-breakwater-models-written"] == "Category"
    rows = await v1.post(
        "/v1/query",
        json=q(None, "queryRaw", {"query": 'SELECT name FROM "Category" ORDER BY name', "parameters": []}),
    )
    assert rows.json() == {"data": {"columns": ["name"], "types": ["string"], "rows": [["x"], ["y"]]}}
    broken = await v1.post("/v1/query", json=q(None, "queryRaw", {"query": "SELEC 1", "parameters": []}))
    assert broken.status_code == 400 and broken.json()["code"] == "P2010"


async def test_a_read_only_key_never_writes_by_any_route(stack: Stack, db: TenantDatabase) -> None:
    key = read_only_key(stack, db)
    await run_script(db.dsn, "INSERT INTO \"Category\" (name) VALUES ('a')")
    async with httpx.AsyncClient(base_url=stack.edge_url, headers={"authorization": f"Bearer {key}"}) as ro:
        create = q("Category", "createOne", {"data": {"name": "evil"}})
        refused = await ro.post("/v1/query", json=create)
        assert refused.status_code == 403 and refused.json()["code"] == "BW2003"
        in_batch = await ro.post("/v1/query", json={"batch": [q("Category", "findMany"), create]})
        assert in_batch.status_code == 403
        raw_write = q(None, "executeRaw", {"query": 'DELETE FROM "Category"', "parameters": "[]"})
        assert (await ro.post("/v1/query", json=raw_write)).status_code == 403
        # A raw query that writes is stopped by the READ ONLY transaction.
        sneaky = q(None, "queryRaw", {"query": 'DELETE FROM "Category" RETURNING name', "parameters": "[]"})
        stopped = await ro.post("/v1/query", json=sneaky)
        assert stopped.status_code == 403 and stopped.json()["code"] == "BW2003"
        tx = (await ro.post("/v1/transaction/start", json={})).json()["id"]
        assert (await ro.post(f"/v1/transaction/{tx}/query", json=create)).status_code == 403
        await ro.post(f"/v1/transaction/{tx}/rollback")
        reads = await ro.post("/v1/query", json=q("Category", "findMany", {}, {"name": True}))
        assert reads.json() == {"data": [{"name": "a"}]}
        # The Prisma 6 front refuses the same way, in the shape the 6.x client reads.
        body = base64.b64encode(RICH_PRISMA.encode())
        hash_ = hashlib.sha256(body).hexdigest()
        assert (await ro.put(f"/6.19.3/{hash_}/schema", content=body)).status_code == 200
        answer = await ro.post(
            f"/6.19.3/{hash_}/graphql", json=q("Category", "createOne", {"data": {"name": "evil"}})
        )
        assert answer.status_code == 200
        assert answer.json()["errors"][0]["user_facing_error"]["error_code"] == "BW2003"
    assert [r["name"] for r in await db.sql('SELECT name FROM "Category"')] == ["a"]


async def test_schemas_and_transactions_belong_to_one_database(stack: Stack, db: TenantDatabase) -> None:
    other = create_tenant(stack, "other")
    await run_script(other.dsn, RICH_SQL)
    body = base64.b64encode(RICH_PRISMA.encode())
    hash_ = hashlib.sha256(body).hexdigest()
    find = q("Category", "findMany")
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, headers={"authorization": f"Bearer {db.api_key}"}) as a,
        httpx.AsyncClient(base_url=stack.edge_url, headers={"authorization": f"Bearer {other.api_key}"}) as b,
    ):
        assert (await a.put(f"/6.19.3/{hash_}/schema", content=body)).status_code == 200
        assert (await a.post(f"/6.19.3/{hash_}/graphql", json=find)).json() == {
            "data": {"findManyCategory": []}
        }
        # Same hash, other database: its schema was never uploaded there.
        missing = await b.post(f"/6.19.3/{hash_}/graphql", json=find)
        assert missing.status_code == 404 and missing.json() == {
            "EngineNotStarted": {"reason": "SchemaMissing"}
        }
        started = await a.post(f"/6.19.3/{hash_}/transaction/start", json={"max_wait": 2000, "timeout": 5000})
        tx = started.json()["id"]
        assert started.json()["data-proxy"]["endpoint"] == f"{stack.edge_url}/6.19.3/{hash_}/itx/{tx}"
        stolen = await b.post(f"/v1/transaction/{tx}/query", json=find)
        assert stolen.status_code == 409 and stolen.json()["code"] == "P2028"
        assert (await a.post(f"/6.19.3/{hash_}/itx/{tx}/commit")).json() == {}
        wrong = await a.put(f"/6.19.3/{'0' * 64}/schema", content=body)
        assert wrong.status_code == 400 and wrong.json()["error_code"] == "BW1101"
        bad = base64.b64encode(b"model {")
        invalid = await a.put(f"/6.19.3/{hashlib.sha256(bad).hexdigest()}/schema", content=bad)
        assert invalid.status_code == 400 and invalid.json()["meta"] == {"line": 1, "column": 7}


async def test_the_prisma6_front_names_tables_in_its_models_headers(stack: Stack, db: TenantDatabase) -> None:
    """`User` is `@@map("users")`: the cache tags by table, as change capture and Prisma 7 plans do,
    so a write through any of them reaches reads made through the others."""
    body = base64.b64encode(RICH_PRISMA.encode())
    hash_ = hashlib.sha256(body).hexdigest()
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {db.api_key}"}
    ) as client:
        assert (await client.put(f"/6.19.3/{hash_}/schema", content=body)).status_code == 200
        made = await client.post(
            f"/6.19.3/{hash_}/graphql", json=q("User", "createOne", {"data": {"email": "t@x.io"}})
        )
        found = await client.post(f"/6.19.3/{hash_}/graphql", json=q("User", "findMany", {}, {"email": True}))
    assert made.headers["x-breakwater-models-written"] == "users"
    assert found.headers["x-breakwater-models-read"] == "users"
