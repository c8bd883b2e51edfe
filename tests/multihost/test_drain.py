"""Draining a host: its databases move to the other host (shared: dump and restore; dedicated: the
data directory while hibernated) with their URLs and keys unchanged; while one moves its requests
get BW3011 with a Retry-After, never a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from bwdev.stack import CONTROL_DATABASE, Stack
from tests.conftest import TenantDatabase
from tests.conftest import run_cli as cli

from .conftest import FIND_MANY, host_of, make_database

pytestmark = pytest.mark.e2e


def create_note(body: str) -> dict[str, Any]:
    return {
        "modelName": "notes",
        "action": "createOne",
        "query": {"arguments": {"data": {"body": body}}, "selection": {"$scalars": True}},
    }


async def prepare(edge: httpx.AsyncClient, db: TenantDatabase) -> None:
    await db.sql("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
    for body in ("before-1", "before-2"):
        response = await edge.post(f"/v1/query?api_key={db.api_key}", json=create_note(body))
        assert response.status_code == 200, response.text


async def bodies(edge: httpx.AsyncClient, db: TenantDatabase) -> list[str]:
    response = await edge.post(f"/v1/query?api_key={db.api_key}", json=FIND_MANY)
    assert response.status_code == 200, response.text
    return [row["body"] for row in response.json()["data"]]


async def keep_reading(
    edge: httpx.AsyncClient, dbs: list[TenantDatabase], seen: list[tuple[int, str]]
) -> None:
    """Reads through the edge until cancelled; every answer's status and code."""
    while True:
        for db in dbs:
            response = await edge.post(f"/v1/query?api_key={db.api_key}", json=FIND_MANY)
            seen.append((response.status_code, response.headers.get("prisma-error-code", "")))
            if response.status_code == 503:
                assert int(response.headers["retry-after"]) >= 1
        await asyncio.sleep(0.01)


async def test_a_drained_hosts_databases_serve_from_the_other_host_with_the_same_keys(
    two_hosts: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=two_hosts.edge_url, timeout=60) as edge:
        shared = make_database(two_hosts, host="h2")
        dedicated = make_database(two_hosts, host="h2", placement="dedicated")
        for db in (shared, dedicated):
            await prepare(edge, db)
        seen: list[tuple[int, str]] = []
        reader = asyncio.create_task(keep_reading(edge, [shared, dedicated], seen))
        try:
            drained = await asyncio.to_thread(cli, two_hosts, "host", "drain", "h2", "--wait", "90")
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        try:
            assert drained.returncode == 0, drained.stderr
            assert "h2 drained" in drained.stdout
            for db in (shared, dedicated):
                assert host_of(two_hosts, db.name) == "local"
                # The same key, through the same URL: what was written before is there, and writes go on.
                assert await bodies(edge, db) == ["before-1", "before-2"]
                response = await edge.post(f"/v1/query?api_key={db.api_key}", json=create_note("after"))
                assert response.status_code == 200, response.text
                assert await bodies(edge, db) == ["before-1", "before-2", "after"]
            # Reads during the moves were answered, or told to retry; never a 500.
            assert {answer for answer in seen if answer[0] != 200} <= {(503, "BW3011")}
            assert seen.count((200, "")) > 0
            shown = two_hosts.admin("GET", "/admin/hosts/h2")
            assert shown["host"]["state"] == "drained" and shown["databases"] == []
            moves = {m["database"]: m for m in shown["moves"]}
            for db in (shared, dedicated):
                move = moves[db.name]
                assert move["state"] == "done" and move["target"] == "local"
                assert 0 <= move["unavailable_ms"] < 60_000  # bounded, and reported
        finally:
            two_hosts.admin("POST", "/admin/hosts/h2/uncordon")


async def test_the_postgres_password_survives_a_move_and_the_old_address_says_where_it_went(
    two_hosts: Stack,
) -> None:
    db = make_database(two_hosts, host="local")
    await db.sql("CREATE TABLE kept (v int)")
    await db.sql("INSERT INTO kept VALUES (7)")
    moved = await asyncio.to_thread(cli, two_hosts, "db", "move", db.name, "--to", "h2")
    assert moved.returncode == 0, moved.stderr
    new_dsn = two_hosts.admin("GET", f"/admin/databases/{db.name}")["postgres_dsn"]
    assert new_dsn != db.dsn and new_dsn.split("@")[0] == db.dsn.split("@")[0]  # same user and password
    conn = await asyncpg.connect(new_dsn)
    try:
        assert await conn.fetchval("SELECT v FROM kept") == 7
    finally:
        await conn.close()
    with pytest.raises(asyncpg.PostgresError, match="moved to another host") as refused:
        await asyncpg.connect(db.dsn)
    assert refused.value.sqlstate == "57000"


async def test_a_moving_database_answers_bw3011_and_serves_again_after(two_hosts: Stack) -> None:
    db = make_database(two_hosts)
    await db.sql("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
    assert two_hosts.control is not None
    control = await asyncpg.connect(two_hosts.control.dsn(CONTROL_DATABASE))
    try:
        async with httpx.AsyncClient(base_url=two_hosts.edge_url, timeout=60) as edge:
            assert await bodies(edge, db) == []
            await control.execute("UPDATE databases SET moving_since = now() WHERE id = $1", db.id)
            await control.execute("SELECT pg_notify('breakwater_moves', $1)", db.id)
            for _ in range(100):
                response = await edge.post(f"/v1/query?api_key={db.api_key}", json=FIND_MANY)
                if response.status_code != 200:
                    break
                await asyncio.sleep(0.05)
            assert response.status_code == 503 and response.json()["code"] == "BW3011"
            assert response.headers["retry-after"] == "2" and "same" in response.json()["hint"]
            await control.execute("UPDATE databases SET moving_since = NULL WHERE id = $1", db.id)
            await control.execute("SELECT pg_notify('breakwater_moves', $1)", db.id)
            for _ in range(100):
                response = await edge.post(f"/v1/query?api_key={db.api_key}", json=FIND_MANY)
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert response.status_code == 200
    finally:
        await control.close()
