"""Merged findUniques through the fronts (origin/fronts/operations.py `run_batch`): a batch answers
each query as a request of its own would, with a read-only key, in a transactional batch at an
isolation level, inside an interactive transaction and on `/v1`, and runs one statement per group."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.engine.conftest import RICH_PRISMA, RICH_SQL
from tests.engine.test_batch import SEED_USERS, USER_FULL
from tests.engine.test_fronts import q, read_only_key
from tests.prisma6.conftest import run_script

pytestmark = pytest.mark.e2e

BODY = base64.b64encode(RICH_PRISMA.encode())
HASH = hashlib.sha256(BODY).hexdigest()
GRAPHQL = f"/6.19.3/{HASH}/graphql"


def find(action: str, where: dict[str, Any], selection: Any = None, model: str = "User") -> dict[str, Any]:
    return q(model, action, {"where": where}, selection)


BATCH = [
    find("findUnique", {"id": 3}, USER_FULL),
    find("findUnique", {"id": 404}, USER_FULL),
    find("findUniqueOrThrow", {"id": 404}, USER_FULL),
    find("findUnique", {"id": 1}, USER_FULL),
    find("findUnique", {"id": 3}, USER_FULL),
    find("findUnique", {"userId_groupId": {"userId": 1, "groupId": 2}}, model="Membership"),
    find("findUnique", {"userId_groupId": {"userId": 2, "groupId": 2}}, model="Membership"),
]


@pytest.fixture
async def db(stack: Stack) -> TenantDatabase:
    tenant = create_tenant(stack, "batch")
    await run_script(tenant.dsn, RICH_SQL + SEED_USERS)
    return tenant


@contextlib.asynccontextmanager
async def client(stack: Stack, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {key}"}, timeout=30
    ) as made:
        assert (await made.put(f"/6.19.3/{HASH}/schema", content=BODY)).status_code == 200
        yield made


async def alone(edge: httpx.AsyncClient, path: str, queries: list[dict[str, Any]]) -> list[Any]:
    """Each query's `batchResult` entry, from a request of its own."""
    parts = []
    for one in queries:
        answer = (await edge.post(path, json=one)).json()
        parts.append({"errors": answer["errors"]} if "errors" in answer else answer)
    return parts


async def test_a_batch_of_findUniques_answers_each_as_alone_with_one_statement_per_group(
    stack: Stack, db: TenantDatabase
) -> None:
    async with client(stack, db.api_key) as edge:
        expected = await alone(edge, GRAPHQL, BATCH)
        answer = await edge.post(GRAPHQL, json={"batch": BATCH}, headers={"x-capture-telemetry": "query"})
    body = answer.json()
    assert body["batchResult"] == expected
    assert expected[1] == {"data": {"findUniqueUser": None}}
    assert expected[2]["errors"][0]["user_facing_error"]["error_code"] == "P2025"
    # The engine's statements (asyncpg's own lookups of a type it meets first are logged too).
    logs = body["extensions"]["logs"]
    statements = [
        log for log in logs if log["level"] == "query" and '"public".' in log["attributes"]["query"]
    ]
    assert len(statements) == 2, statements  # one per model's group
    assert "ANY(" in statements[0]["attributes"]["query"]


async def test_a_read_only_key_gets_the_same_answers(stack: Stack, db: TenantDatabase) -> None:
    async with client(stack, read_only_key(stack, db)) as edge:
        expected = await alone(edge, GRAPHQL, BATCH)
        answer = await edge.post(GRAPHQL, json={"batch": BATCH})
    assert answer.json()["batchResult"] == expected


async def test_a_transactional_batch_keeps_its_isolation_and_fails_whole(
    stack: Stack, db: TenantDatabase
) -> None:
    found = [one for one in BATCH if one["action"] != "findUniqueOrThrow"]
    async with client(stack, db.api_key) as edge:
        expected = await alone(edge, GRAPHQL, found)
        tx = {"isolationLevel": "RepeatableRead"}
        answer = await edge.post(GRAPHQL, json={"batch": found, "transaction": tx})
        assert answer.json()["batchResult"] == expected
        failed = await edge.post(GRAPHQL, json={"batch": BATCH, "transaction": tx})
    assert failed.json()["errors"][0]["user_facing_error"]["error_code"] == "P2025"


async def test_inside_an_interactive_transaction_a_batch_sees_its_writes(
    stack: Stack, db: TenantDatabase
) -> None:
    async with client(stack, db.api_key) as edge:
        started = (await edge.post(f"/6.19.3/{HASH}/transaction/start", json={})).json()
        itx = f"/6.19.3/{HASH}/itx/{started['id']}/graphql"
        await edge.post(itx, json=q("User", "updateOne", {"where": {"id": 1}, "data": {"name": "Inside"}}))
        expected = await alone(edge, itx, BATCH)
        answer = await edge.post(itx, json={"batch": BATCH})
        assert answer.json()["batchResult"] == expected
        assert (await edge.post(f"/6.19.3/{HASH}/itx/{started['id']}/rollback")).status_code == 200
    assert expected[3]["data"]["findUniqueUser"]["name"] == "Inside"


async def test_v1_batches_merge_too(stack: Stack, db: TenantDatabase) -> None:
    queries = [q("users", "findUnique", {"where": {"id": i}}, {"email": True}) for i in (2, 99, 2, 5)]
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {db.api_key}"}, timeout=30
    ) as v1:
        expected = [(await v1.post("/v1/query", json=one)).json() for one in queries]
        answer = await v1.post("/v1/query", json={"batch": queries})
    assert answer.json()["batchResult"] == expected
    assert json.dumps(expected[1]) == '{"data": null}'
