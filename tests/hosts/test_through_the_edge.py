"""Scale to zero, seen from a client of the edge: paused and hibernated databases answer the next
query as if nothing happened, and so does every database after the host agent restarts."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from breakwater import Client
from bwdev.stack import CONTROL_DATABASE, Stack
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user
from tests.hosts.conftest import EdgeTenant, instance_figures, pool_figures, seeded_tenant, stack_with

pytestmark = pytest.mark.e2e

FIND_NOTES = {
    "modelName": "notes",
    "action": "findMany",
    "query": {"arguments": {}, "selection": {"$scalars": True}},
}
NOTES = {"data": [{"id": 1, "body": "hi"}]}


@pytest.fixture(scope="module")
def stack(scratch: Path) -> Iterator[Stack]:
    # No idle policy: the tests pause and hibernate on purpose.
    running = stack_with(
        scratch / "edge-stack", BREAKWATER_HOSTS_PAUSE_AFTER="0", BREAKWATER_HOSTS_HIBERNATE_AFTER="0"
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def edge(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=60) as client:
        yield client


async def pause_when_quiet(stack: Stack, tenant: EdgeTenant) -> dict[str, Any]:
    """Pause the tenant's instance. The agent refuses (answers it still running) while a query runs
    inside it; a shared instance also serves the platform's own sampling and other tenants, so on a
    loaded machine the first try can meet one: try again, as an operator would."""
    for _ in range(50):
        instance: dict[str, Any] = stack.admin("POST", f"/admin/databases/{tenant.name}/pause")["instance"]
        if instance["state"] == "paused":
            return instance
        await asyncio.sleep(0.2)
    return instance


async def notes(edge: httpx.AsyncClient, tenant: EdgeTenant) -> tuple[int, object]:
    response = await edge.post(
        "/v1/query", json=FIND_NOTES, headers={"authorization": f"Bearer {tenant.api_key}"}
    )
    return response.status_code, response.json()


@pytest.mark.parametrize("placement", ["shared", "dedicated"])
async def test_a_paused_database_answers_the_next_query_unnoticed(
    stack: Stack, edge: httpx.AsyncClient, placement: str
) -> None:
    tenant = await seeded_tenant(stack, placement)
    assert await notes(edge, tenant) == (200, NOTES)
    paused = await pause_when_quiet(stack, tenant)
    assert (paused["state"], paused["frozen"]) == ("paused", True)
    resumes = paused["resumes"]

    assert await notes(edge, tenant) == (200, NOTES)
    after = instance_figures(stack, tenant.instance)
    assert (after["state"], after["resumes"]) == ("running", resumes + 1)
    # The origin's pooled connection lived through the pause: it never opened another.
    assert pool_figures(stack, tenant.id)["opened"] == 1


@pytest.mark.parametrize("placement", ["shared", "dedicated"])
async def test_a_hibernated_database_answers_the_next_query_unnoticed(
    stack: Stack, edge: httpx.AsyncClient, placement: str
) -> None:
    tenant = await seeded_tenant(stack, placement)
    assert await notes(edge, tenant) == (200, NOTES)
    asleep = stack.admin("POST", f"/admin/databases/{tenant.name}/hibernate")["instance"]
    assert (asleep["state"], asleep["pid"], asleep["processes"]) == ("hibernated", None, 0)
    starts = asleep["starts"]

    assert await notes(edge, tenant) == (200, NOTES)
    after = instance_figures(stack, tenant.instance)
    assert (after["state"], after["starts"]) == ("running", starts + 1)
    # Hibernation ended the pooled session; the pool replaced it without the client seeing it.
    assert pool_figures(stack, tenant.id)["opened"] == 2


async def test_every_database_still_works_after_the_agent_restarts(
    stack: Stack, edge: httpx.AsyncClient
) -> None:
    running = await seeded_tenant(stack, "shared")
    paused = await seeded_tenant(stack, "dedicated")
    asleep = await seeded_tenant(stack, "dedicated")
    for tenant in (running, paused, asleep):
        assert await notes(edge, tenant) == (200, NOTES)
    stack.admin("POST", f"/admin/databases/{paused.name}/pause")
    stack.admin("POST", f"/admin/databases/{asleep.name}/hibernate")
    before = {i["name"]: i["state"] for i in stack.admin("GET", "/admin/hosts")["instances"]}

    stack.restart_service("hosts", kill=True)  # a crash: nothing is stopped or thawed on the way out

    after = {i["name"]: i["state"] for i in stack.admin("GET", "/admin/hosts")["instances"]}
    assert after == before
    assert (after[paused.instance], after[asleep.instance]) == ("paused", "hibernated")
    results = await asyncio.gather(*(notes(edge, t) for t in (running, paused, asleep)))
    assert results == [(200, NOTES)] * 3
    psql = await asyncio.create_subprocess_exec(
        "psql", asleep.dsn, "-Atc", "SELECT body FROM notes", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await psql.communicate()
    assert (psql.returncode, out) == (0, b"hi\n")  # the DSN handed out before the restart still works


@pytest.mark.parametrize("sleep", ["pause", "hibernate"])
async def test_a_change_stream_lives_through_a_pause_and_a_hibernation(stack: Stack, sleep: str) -> None:
    """A dedicated database with a stream open goes to sleep; the next write (through the proxy)
    wakes it and its event still reaches the consumer: frozen, the WAL sender resumes; stopped, the
    origin's reader reconnects once the instance is back."""
    tenant = await seeded_tenant(stack, "dedicated")
    url = f"prisma+postgres://127.0.0.1:{stack.ports['edge']}/?api_key={tenant.api_key}"
    async with Client(url) as db, db.notes.stream() as events:
        asleep = stack.admin("POST", f"/admin/databases/{tenant.name}/{sleep}")["instance"]
        assert asleep["state"] == ("paused" if sleep == "pause" else "hibernated")
        conn = await asyncpg.connect(tenant.dsn)
        try:
            await conn.execute("INSERT INTO notes (body) VALUES ('after the nap')")
        finally:
            await conn.close()
        event = await asyncio.wait_for(anext(events), 30)
    assert (event["action"], event["created"]["body"]) == ("create", "after the nap")


async def test_a_stream_follows_its_database_to_another_port(stack: Stack) -> None:
    """Someone takes a hibernated instance's port: it wakes on another one, and the origin's reader,
    refused at the old address, asks the host agent for the new one."""
    tenant = await seeded_tenant(stack, "dedicated")
    url = f"prisma+postgres://127.0.0.1:{stack.ports['edge']}/?api_key={tenant.api_key}"
    async with Client(url) as db, db.notes.stream() as events:
        old_port = stack.admin("POST", f"/admin/databases/{tenant.name}/hibernate")["instance"]["port"]

        async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()  # not Postgres: whoever connects here gets nothing

        squatter = await asyncio.start_server(hang_up, "127.0.0.1", old_port, reuse_address=True)
        try:
            conn = await asyncpg.connect(tenant.dsn)
            try:
                await conn.execute("INSERT INTO notes (body) VALUES ('moved')")
            finally:
                await conn.close()
            assert instance_figures(stack, tenant.instance)["port"] != old_port
            event = await asyncio.wait_for(anext(events), 30)
        finally:
            squatter.close()
    assert event["created"]["body"] == "moved"


async def test_a_stream_from_before_capture_roles_per_database_follows_the_upgrade(stack: Stack) -> None:
    """An older agent kept one capture role per instance (`bw_capture`, CONNECT on every captured
    database) and pg_hba lines for physical replication. The next agent rewrites pg_hba and moves each
    database to a capture role of its own; the origin's reader, refused as the old role, asks the
    agent for the new address and resumes from its slot."""
    tenant = await seeded_tenant(stack, "shared")
    database = f"t_{tenant.id}"
    url = f"prisma+postgres://127.0.0.1:{stack.ports['edge']}/?api_key={tenant.api_key}"
    postgres = PostgresInstance(stack.hosts_root / "instances" / tenant.instance, service_user())
    async with Client(url) as db, db.notes.stream() as events:
        # What the older agent left: its role, its file, its pg_hba, and the origin reading as it.
        password = secrets.token_urlsafe(12)
        admin = await asyncpg.connect(postgres.dsn())
        try:
            await admin.execute(
                f"CREATE ROLE bw_capture LOGIN REPLICATION PASSWORD '{password}';"
                f"GRANT CONNECT ON DATABASE {database} TO bw_capture;"
                f"REVOKE CONNECT ON DATABASE {database} FROM c_{tenant.id}; DROP ROLE c_{tenant.id}"
            )
        finally:
            await admin.close()
        (postgres.root / "capture" / f"{tenant.id}.json").unlink()
        (postgres.root / "capture-role.json").write_text(
            json.dumps({"role": "bw_capture", "password": password})
        )
        meta = postgres.meta
        meta.hardened = 0
        postgres.save_meta(meta)
        old_hba = "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
        (postgres.data_dir / "pg_hba.conf").write_text(
            old_hba + "host replication all 127.0.0.1/32 scram-sha-256\n"
        )
        postgres.reload()
        assert stack.control is not None
        control = await asyncpg.connect(stack.control.dsn(CONTROL_DATABASE))
        try:
            old_dsn = postgres.dsn(database, "bw_capture", password)
            await control.execute(
                "UPDATE capture_databases SET dsn = $2 WHERE database_id = $1", tenant.id, old_dsn
            )
            stack.restart_service("origin")  # its reader starts again, as the old role
            stack.restart_service("hosts")  # the new agent upgrades the instance
            conn = await asyncpg.connect(tenant.dsn)
            try:
                await conn.execute("INSERT INTO notes (body) VALUES ('upgraded')")
            finally:
                await conn.close()
            event = await asyncio.wait_for(anext(events), 30)
            assert event["created"]["body"] == "upgraded"
            dsn = await control.fetchval(
                "SELECT dsn FROM capture_databases WHERE database_id = $1", tenant.id
            )
        finally:
            await control.close()
    assert dsn.startswith(f"postgresql://c_{tenant.id}:")
    assert "replication" not in (postgres.data_dir / "pg_hba.conf").read_text()
    assert not (postgres.root / "capture-role.json").exists()
    admin = await asyncpg.connect(postgres.dsn())
    try:
        assert await admin.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = 'bw_capture'") == 0
        assert not await admin.fetchval("SELECT has_database_privilege('public', 'template1', 'CONNECT')")
    finally:
        await admin.close()
