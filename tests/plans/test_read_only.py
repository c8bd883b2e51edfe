"""A read-only key cannot write through a plan, templated or raw, inside or outside an interactive
transaction, however the plan's SQL tries to leave its READ ONLY transaction. Each layer is tested on
its own: the statement filter (through the edge), Postgres' read-only transaction with its snapshot
taken, and the check that the transaction is still open after every statement (in process, with the
filter switched off)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from bwcontract.keys import KeyClaims
from bwdev.stack import Stack
from origin.caller import Caller
from origin.errors import Forbidden
from origin.fronts import prisma7
from origin.plans import check, executor
from origin.plans.telemetry import Capture
from tests.conftest import TenantDatabase, create_tenant
from tests.plans.plans import CREATE_TABLE, INSERT_NOTE, SELECT_NOTES, body, execute, raw, seq

pytestmark = pytest.mark.e2e


@pytest.fixture
async def notes(stack: Stack) -> TenantDatabase:
    tenant = create_tenant(stack, "ro")
    await tenant.sql(CREATE_TABLE)
    await tenant.sql('INSERT INTO "Note" (body) VALUES ($1)', "kept")
    return tenant


async def note_bodies(tenant: TenantDatabase) -> list[str]:
    return [r["body"] for r in await tenant.sql('SELECT body FROM "Note" ORDER BY id')]


ESCAPES = {
    "templated insert": body(INSERT_NOTE, {"%1": "sneaky"}, operation="createOne"),
    "raw insert": body(
        raw("execute", 'INSERT INTO "Note" (body) VALUES ($1)', "sneaky"), operation="executeRaw"
    ),
    "raw update": body(raw("execute", 'UPDATE "Note" SET body = $1', "sneaky"), operation="executeRaw"),
    "set read write first": body(
        seq(raw("execute", "SET TRANSACTION READ WRITE"), execute("INSERT INTO \"Note\" (body) VALUES ('x')"))
    ),
    "commit then insert": body(
        seq(raw("execute", "COMMIT"), execute("INSERT INTO \"Note\" (body) VALUES ('x')"))
    ),
    "commit and chain": body(
        seq(
            raw("execute", "COMMIT AND CHAIN"),
            raw("execute", "SET TRANSACTION READ WRITE"),
            execute("INSERT INTO \"Note\" (body) VALUES ('x')"),
        )
    ),
    "comment before the keyword": body(raw("execute", '/* hi */ (( DELETE FROM "Note"')),
    "data-modifying cte": body(
        raw("query", 'WITH gone AS (DELETE FROM "Note" RETURNING id) SELECT count(*) FROM gone'),
        operation="queryRaw",
    ),
    "set_config after the snapshot": body(
        seq(
            raw("query", "SELECT set_config('transaction_read_only', 'off', true)"),
            raw("query", "WITH x AS (INSERT INTO \"Note\" (body) VALUES ('x') RETURNING 1) SELECT 1"),
        ),
        operation="queryRaw",
    ),
    "sequence side effect": body(raw("query", "SELECT nextval('\"Note_id_seq\"')"), operation="queryRaw"),
}


@pytest.mark.parametrize("name", list(ESCAPES))
async def test_a_read_only_key_cannot_write_through_a_plan(
    edge: httpx.AsyncClient, notes: TenantDatabase, read_only_key: Callable[[TenantDatabase], str], name: str
) -> None:
    key = read_only_key(notes)
    response = await edge.post("/query", json=ESCAPES[name], headers={"authorization": f"Bearer {key}"})
    assert response.status_code in (400, 403), response.text
    assert response.json()["code"] in ("BW2003", "P2010"), response.text
    assert await note_bodies(notes) == ["kept"]
    # The key still reads, and the pool handed out a clean connection afterwards.
    again = await edge.post("/query", json=body(SELECT_NOTES), headers={"authorization": f"Bearer {key}"})
    assert again.json()["data"] == [{"id": 1, "body": "kept"}]


async def test_a_read_only_key_cannot_write_in_an_interactive_transaction(
    edge: httpx.AsyncClient, notes: TenantDatabase, read_only_key: Callable[[TenantDatabase], str]
) -> None:
    auth = {"authorization": f"Bearer {read_only_key(notes)}"}
    tx = (await edge.post("/transaction/start", json={}, headers=auth)).json()["id"]
    for plan in (ESCAPES["set read write first"], ESCAPES["raw insert"], ESCAPES["data-modifying cte"]):
        response = await edge.post(f"/transaction/{tx}/query", json=plan, headers=auth)
        assert response.status_code in (400, 403), response.text
    assert (await edge.post(f"/transaction/{tx}/commit", headers=auth)).status_code in (200, 400)
    assert await note_bodies(notes) == ["kept"]


async def test_a_read_write_key_writes(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    response = await edge.post(
        "/query", json=body(INSERT_NOTE, {"%1": "new"}), headers={"authorization": f"Bearer {notes.api_key}"}
    )
    assert response.json()["data"] == {"id": 2, "body": "new"}
    assert await note_bodies(notes) == ["kept", "new"]


# --- each layer on its own -------------------------------------------------------------------------


@pytest.fixture
def no_statement_filter() -> Iterator[None]:
    saved = executor._READING
    executor._READING = frozenset({"SELECT", "WITH", "SET", "INSERT", "COMMIT", "UPDATE"})
    try:
        yield
    finally:
        executor._READING = saved


READER = Caller(KeyClaims(key_id="k", workspace_id="w", database_id="d", database_name="n", scope="read"))


async def run_read_only(dsn: str, plan: dict[str, Any]) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        request = prisma7.parse_plan_request(json.dumps(body(plan)).encode())
        return await prisma7._read_only(conn, READER, request, Capture(), check.PlanFacts())
    finally:
        await conn.close()


async def test_postgres_refuses_read_write_once_the_snapshot_is_taken(
    pg_database: str, no_statement_filter: None
) -> None:
    setup = await asyncpg.connect(pg_database)
    await setup.execute(CREATE_TABLE)
    plan = seq(
        raw("execute", "SET TRANSACTION READ WRITE"), execute("INSERT INTO \"Note\" (body) VALUES ('x')")
    )
    with pytest.raises(Exception, match="read-write mode must be set before any query"):
        await run_read_only(pg_database, plan)
    assert await setup.fetchval('SELECT count(*) FROM "Note"') == 0
    await setup.close()


async def test_leaving_the_read_only_transaction_closes_the_connection(
    pg_database: str, no_statement_filter: None
) -> None:
    setup = await asyncpg.connect(pg_database)
    await setup.execute(CREATE_TABLE)
    plan = seq(raw("execute", "COMMIT"), execute("INSERT INTO \"Note\" (body) VALUES ('x')"))
    with pytest.raises(Forbidden, match="leave its read-only transaction"):
        await run_read_only(pg_database, plan)
    assert await setup.fetchval('SELECT count(*) FROM "Note"') == 0
    await setup.close()


async def test_the_statement_filter_reads_past_comments_and_parentheses() -> None:
    assert executor.leading_keyword("  -- c\n /* x */ (( select 1") == "SELECT"
    assert executor.leading_keyword("/* a */ DELETE FROM x") == "DELETE"
    assert executor.leading_keyword("") == ""
