"""The Prisma 7 routes through the edge, with hand-written plans: connection info, the models headers
the edge cache relies on, telemetry, the version policy, transactions and their isolation between
tenants, and errors in the shape the client reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.plans.plans import (
    CREATE_TABLE,
    INSERT_NOTE,
    SELECT_NOTES,
    body,
    data_map,
    fields,
    param,
    query,
    raw,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def notes(stack: Stack) -> TenantDatabase:
    tenant = create_tenant(stack, "rt")
    await tenant.sql(CREATE_TABLE)
    return tenant


def auth(tenant: TenantDatabase, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {tenant.api_key}", **headers}


async def test_connection_info_says_postgres_with_relation_joins(
    edge: httpx.AsyncClient, notes: TenantDatabase
) -> None:
    response = await edge.get("/connection-info", headers=auth(notes))
    assert response.status_code == 200
    assert response.json() == {
        "provider": "postgres",
        "connectionInfo": {"supportsRelationJoins": True, "maxBindValues": 32767},
        "extensions": {"logs": []},
    }


async def test_connection_info_needs_a_key(edge: httpx.AsyncClient) -> None:
    response = await edge.get("/connection-info")
    assert response.status_code == 401
    assert response.headers["prisma-error-code"] == "P6002"


async def test_writes_name_the_tables_they_touch(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    created = await edge.post("/query", json=body(INSERT_NOTE, {"%1": "a"}), headers=auth(notes))
    assert created.json() == {"data": {"id": 1, "body": "a"}, "extensions": {"logs": []}}
    assert created.headers["x-breakwater-models-written"] == "Note"
    assert created.headers["x-breakwater-models-read"] == "Note"
    read = await edge.post("/query", json=body(SELECT_NOTES), headers=auth(notes))
    assert read.json()["data"] == [{"id": 1, "body": "a"}]
    assert read.headers["x-breakwater-models-read"] == "Note"
    assert "x-breakwater-models-written" not in read.headers


async def test_telemetry_returns_query_logs_when_asked(
    edge: httpx.AsyncClient, notes: TenantDatabase
) -> None:
    response = await edge.post(
        "/query", json=body(SELECT_NOTES), headers=auth(notes, **{"X-Capture-Telemetry": "info, query"})
    )
    logs = response.json()["extensions"]["logs"]
    assert [log["level"] for log in logs] == ["query"]
    assert logs[0]["attributes"]["query"].startswith('SELECT "public"."Note"."id"')
    assert logs[0]["attributes"]["params"] == "[]"
    seconds, nanos = logs[0]["timestamp"]
    assert seconds > 1_700_000_000 and 0 <= nanos < 1_000_000_000
    quiet = await edge.post(
        "/query", json=body(SELECT_NOTES), headers=auth(notes, **{"X-Capture-Telemetry": "error"})
    )
    assert quiet.json()["extensions"] == {"logs": []}


async def test_sqlcommenter_comments_are_appended_to_every_statement(
    edge: httpx.AsyncClient, notes: TenantDatabase
) -> None:
    tagged = {**body(SELECT_NOTES), "comments": {"route": "/notes", "application": "web app"}}
    response = await edge.post("/query", json=tagged, headers=auth(notes, **{"X-Capture-Telemetry": "query"}))
    assert response.status_code == 200, response.text
    (logged,) = response.json()["extensions"]["logs"]
    assert logged["attributes"]["query"].endswith(" /*application='web%20app',route='%2Fnotes'*/")
    wrong = {**body(SELECT_NOTES), "comments": {"route": 5}}
    refused = await edge.post("/query", json=wrong, headers=auth(notes))
    assert (refused.status_code, refused.json()["code"]) == (400, "BW1001")


async def test_errors_are_logged_for_the_client_at_the_error_level(
    edge: httpx.AsyncClient, notes: TenantDatabase
) -> None:
    plan = body(raw("query", "SELECT * FROM nowhere"), operation="queryRaw")
    response = await edge.post("/query", json=plan, headers=auth(notes, **{"X-Capture-Telemetry": "error"}))
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "P2010"
    assert payload["error"] == 'Raw query failed. Code: `42P01`. Message: `relation "nowhere" does not exist`'
    assert payload["meta"]["driverAdapterError"]["cause"]["kind"] == "TableDoesNotExist"
    assert [log["level"] for log in payload["extensions"]["logs"]] == ["error"]


async def test_a_statement_is_one_statement(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    plan = body(raw("execute", 'SELECT 1; DELETE FROM "Note"'), operation="executeRaw")
    response = await edge.post("/query", json=plan, headers=auth(notes))
    assert response.status_code == 400
    assert response.json()["code"] == "P2010"
    assert "cannot insert multiple commands into a prepared statement" in response.json()["error"]


async def test_a_raw_value_that_does_not_fit_is_p2010(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    plan = body(raw("query", 'SELECT * FROM "Note" WHERE id = $1', 1.5), operation="queryRaw")
    response = await edge.post("/query", json=plan, headers=auth(notes))
    assert response.status_code == 400
    assert response.json()["code"] == "P2010"
    # The value goes as text, as Prisma's pg driver sends it, and Postgres refuses it.
    assert response.json()["error"] == (
        'Raw query failed. Code: `22P02`. Message: `invalid input syntax for type integer: "1.5"`'
    )


async def test_a_plan_with_an_unknown_node_names_it_and_the_supported_versions(
    edge: httpx.AsyncClient, notes: TenantDatabase
) -> None:
    plan = body({"type": "teleport", "args": {}})
    response = await edge.post("/query", json=plan, headers=auth(notes, **{"Prisma-Engine-Hash": "7.99.0"}))
    assert response.status_code == 400
    assert response.json() == {
        "code": "BW1102",
        "error": "Prisma Client 7.99.0 sent a query plan with the node `teleport`, which this server does "
        "not know. Breakwater runs the plans of Prisma Client 7.10.1.",
        "meta": {
            "unknown": {"kind": "node", "name": "teleport"},
            "clientVersion": "7.99.0",
            "supported": "7.10.1",
        },
        "hint": "Use a tested Prisma Client version (7.10.1) or upgrade Breakwater.",
        "extensions": {"logs": []},
    }


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json", "BW1001"),
        (b'{"operation": "findMany"}', "BW1001"),
        (b'{"plan": {"type": "get", "args": {"name": "nothing"}}, "params": {}}', "BW1103"),
        (b'{"plan": {"type": "let", "args": {}}, "params": {}}', "BW1103"),
        (b'{"plan": {"type": "value", "args": {"prisma__type": "param", "prisma__value": {}}}}', "BW1103"),
    ],
)
async def test_malformed_requests_get_400(
    edge: httpx.AsyncClient, notes: TenantDatabase, payload: bytes, code: str
) -> None:
    response = await edge.post("/query", content=payload, headers=auth(notes))
    assert response.status_code == 400
    assert response.json()["code"] == code


async def test_a_missing_record_is_p2025(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    plan = {
        "type": "validate",
        "args": {
            "expr": query('SELECT "id" FROM "public"."Note" WHERE "id" = ', (param("%1", "Int"), "int")),
            "rules": [{"type": "rowCountNeq", "args": 0}],
            "errorIdentifier": "MISSING_RECORD",
            "context": {"operation": "an update"},
        },
    }
    response = await edge.post("/query", json=body(plan, {"%1": 7}), headers=auth(notes))
    assert response.status_code == 400
    assert {k: v for k, v in response.json().items() if k != "extensions"} == {
        "code": "P2025",
        "error": "An operation failed because it depends on one or more records that were required but not "
        "found. No record was found for an update.",
        "meta": {"operation": "an update"},
    }


async def test_a_big_in_list_is_split_into_chunks(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    await notes.sql("INSERT INTO \"Note\" (body) SELECT 'n' || g FROM generate_series(1, 3) g")
    ids = list(range(1, 40_001))
    tuple_fragment = {"type": "parameterTuple", "itemPrefix": "", "itemSeparator": ",", "itemSuffix": ""}
    plan = data_map(
        query('SELECT "id", "body" FROM "public"."Note" WHERE "id" IN ', (ids, "int", tuple_fragment)),
        fields(id="int", body="string"),
    )
    response = await edge.post("/query", json=body(plan), headers=auth(notes))
    assert response.status_code == 200, response.text
    assert sorted(r["id"] for r in response.json()["data"]) == [1, 2, 3]


async def start(edge: httpx.AsyncClient, tenant: TenantDatabase, **options: Any) -> str:
    response = await edge.post("/transaction/start", json=options, headers=auth(tenant))
    assert response.status_code == 200, response.text
    tx_id: str = response.json()["id"]
    assert response.headers["prisma-transaction-id"] == tx_id
    return tx_id


async def test_a_transaction_lives_in_the_origin_that_started_it(
    edge: httpx.AsyncClient, notes: TenantDatabase
) -> None:
    tx = await start(edge, notes, maxWait=2000, timeout=5000, isolationLevel="SERIALIZABLE")
    assert tx.startswith("o1~")
    inside = await edge.post(
        f"/transaction/{tx}/query", json=body(INSERT_NOTE, {"%1": "t"}), headers=auth(notes)
    )
    assert inside.json()["data"] == {"id": 1, "body": "t"}
    level = await edge.post(
        f"/transaction/{tx}/query",
        json=body(raw("query", "SHOW transaction_isolation"), operation="queryRaw"),
        headers=auth(notes),
    )
    assert level.json()["data"] == {
        "columns": ["transaction_isolation"],
        "types": ["string"],
        "rows": [["serializable"]],
    }
    assert await notes.sql('SELECT * FROM "Note"') == []
    committed = await edge.post(f"/transaction/{tx}/commit", headers=auth(notes))
    assert committed.json() == {"extensions": {"logs": []}}
    assert [r["body"] for r in await notes.sql('SELECT body FROM "Note"')] == ["t"]
    again = await edge.post(f"/transaction/{tx}/commit", headers=auth(notes))
    assert again.status_code == 409
    assert again.json()["code"] == "P2028"


async def test_another_tenant_cannot_use_a_transaction(
    stack: Stack, edge: httpx.AsyncClient, notes: TenantDatabase
) -> None:
    tx = await start(edge, notes)
    other = create_tenant(stack, "rt")
    for op in ("query", "commit", "rollback"):
        payload = body(SELECT_NOTES) if op == "query" else None
        response = await edge.post(f"/transaction/{tx}/{op}", json=payload, headers=auth(other))
        assert response.status_code == 409
        assert response.json()["code"] == "P2028"
        assert tx in response.json()["error"]
    assert (await edge.post(f"/transaction/{tx}/rollback", headers=auth(notes))).status_code == 200


async def test_an_unknown_isolation_level_is_refused(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    response = await edge.post("/transaction/start", json={"isolationLevel": "SNAPSHOT"}, headers=auth(notes))
    assert response.status_code == 400
    assert response.json()["code"] == "P2023"


async def test_an_expired_transaction_is_p2028(edge: httpx.AsyncClient, notes: TenantDatabase) -> None:
    tx = await start(edge, notes, timeout=50)
    await edge.post(
        f"/transaction/{tx}/query", json=body(raw("query", "SELECT pg_sleep(0.2)")), headers=auth(notes)
    )
    response = await edge.post(f"/transaction/{tx}/query", json=body(SELECT_NOTES), headers=auth(notes))
    assert response.status_code == 409
    assert response.json()["code"] == "P2028"
    assert "expired" in response.json()["error"]
