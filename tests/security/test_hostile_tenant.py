"""A hostile tenant, on each placement, arms its database (tests/security/hostile.py) and then every
platform path runs against it: its read-only role made for it (the path databases made before read-only
roles take), introspection, a Prisma 6 schema upload, change capture turned on by a stream (the
agent's superuser session, the REPLICA IDENTITY pass, the slot, the WAL sender), a capture of inserts
and a TRUNCATE, full images on and off, pause, resume, hibernate and a wake, a key revoked, and the
database destroyed.

It passes when no spy ever ran as anything but the tenant's own roles (the spies do run for the
tenant's own queries: that is checked too, so the test can fail), the tenant's roles never gained an
attribute or a membership, a bystander tenant is untouched, and nothing outside the tenant's database
is reachable with its role.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from breakwater import Client, StreamError
from bwdev.stack import CONTROL_DATABASE, Stack
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user
from tests.security import hostile

pytestmark = pytest.mark.e2e

NOTES = "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('kept')"
SCHEMA = """
datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
}

model notes {
  id   Int     @id @default(autoincrement())
  body String?
}
"""


def instance(stack: Stack, name: str) -> PostgresInstance:
    return PostgresInstance(stack.hosts_root / "instances" / name, service_user())


def provision(stack: Stack, placement: str) -> dict[str, Any]:
    name = f"hostile-{placement[:3]}-{secrets.token_hex(3)}"
    made = stack.admin("POST", "/admin/databases", {"name": name, "placement": placement})
    return {
        "name": name,
        "id": made["database"]["id"],
        "instance": made["database"]["instance"],
        "dsn": made["postgres_dsn"],
        "key": made["api_key"],
        "url": made["url"],
    }


async def run(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def refused(dsn: str, sql: str = "SELECT 1") -> str:
    """The SQLSTATE `sql` fails with (connecting included); the test fails if it succeeds."""
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.PostgresError as exc:
        return str(exc.sqlstate)
    try:
        await conn.execute(sql)
    except asyncpg.PostgresError as exc:
        return str(exc.sqlstate)
    finally:
        await conn.close()
    raise AssertionError(f"{sql!r} as the tenant succeeded")


def other_database(dsn: str, database: str) -> str:
    return dsn.rsplit("/", 1)[0] + f"/{database}"


async def forget_read_only_role(stack: Stack, database_id: str) -> None:
    """What a database made before read-only roles looks like to the control plane."""
    assert stack.control is not None
    conn = await asyncpg.connect(stack.control.dsn(CONTROL_DATABASE))
    try:
        await conn.execute("UPDATE databases SET readonly_dsn = NULL WHERE id = $1", database_id)
    finally:
        await conn.close()


async def drive_every_platform_path(stack: Stack, tenant: dict[str, Any]) -> None:
    name, rw = tenant["name"], {"authorization": f"Bearer {tenant['key']}"}
    read_key = stack.admin("POST", "/admin/keys", {"database": name, "scope": "read"})
    ro = {"authorization": f"Bearer {read_key['api_key']}"}
    find = {
        "modelName": "notes",
        "action": "findMany",
        "query": {"arguments": {}, "selection": {"$scalars": True}},
    }
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=60) as edge:
        # The read-only role, made by the agent on first use (with the tenant's spies in place).
        for headers in (ro, rw):
            schema = await edge.get("/v1/schema", headers=headers)
            assert schema.status_code == 200 and "notes" in schema.json()["models"], schema.text
            found = await edge.post("/v1/query", json=find, headers=headers)
            assert found.json() == {"data": [{"id": 1, "body": "kept"}]}, found.text
        upload = base64.b64encode(SCHEMA.encode())
        digest = hashlib.sha256(upload).hexdigest()
        assert (await edge.put(f"/6.19.3/{digest}/schema", content=upload, headers=ro)).status_code == 200
        p6 = await edge.post(f"/6.19.3/{digest}/graphql", json=find, headers=ro)
        assert p6.json() == {"data": {"findManynotes": [{"id": 1, "body": "kept"}]}}, p6.text

        # Change capture turned on by a stream; inserts (a table without a key included) and a TRUNCATE.
        async with asyncio.timeout(60), Client(tenant["url"]) as client, client.notes.stream() as events:
            await run(
                tenant["dsn"], "INSERT INTO notes (body) VALUES ('seen'); INSERT INTO keyless VALUES (1)"
            )
            await run(tenant["dsn"], "UPDATE keyless SET v = 2; TRUNCATE notes")
            seen = [await anext(events) for _ in range(2)]
        assert [e["action"] for e in seen] == ["create", "truncate"], seen
        for full in (True, False):
            turned = stack.admin("PUT", f"/admin/databases/{name}/tables/notes/full-images", {"full": full})
            assert turned["fullImages"] is full

        for action in ("pause", "resume", "hibernate"):
            stack.admin("POST", f"/admin/databases/{name}/{action}")
        woken = await edge.post("/v1/query", json=find, headers=rw)
        assert woken.status_code == 200 and woken.json() == {"data": []}, woken.text
        stack.admin("POST", f"/admin/keys/{read_key['key']['id']}/revoke")


@pytest.mark.parametrize("placement", ["shared", "dedicated"])
async def test_a_hostile_tenant_never_runs_code_as_another_role(stack: Stack, placement: str) -> None:
    bystander = provision(stack, "shared")
    await run(bystander["dsn"], NOTES)
    tenant = provision(stack, placement)
    database_id = tenant["id"]
    owner, reader, capture = f"u_{database_id}", f"r_{database_id}", f"c_{database_id}"
    postgres = instance(stack, tenant["instance"])
    superuser = postgres.dsn(f"t_{database_id}")

    await run(tenant["dsn"], NOTES + "; CREATE TABLE keyless (v int)")
    await run(tenant["dsn"], hostile.arsenal(owner))
    await run(tenant["dsn"], hostile.first_on_the_path(f"t_{database_id}", owner))
    await forget_read_only_role(stack, database_id)

    # Positive control: the spies run for the tenant's own queries, and the log shows it.
    await run(tenant["dsn"], "SELECT count(*) FROM pg_class WHERE relname = 'notes'::name AND relkind = 'r'")
    assert any(r.current_user == owner for r in await hostile.spy_log(superuser))

    await drive_every_platform_path(stack, tenant)

    log = await hostile.spy_log(superuser)
    strangers = {(r.what, r.current_user, r.session_user) for r in log} - {
        (r.what, r.current_user, r.session_user)
        for r in log
        if r.current_user in (owner, reader) and r.session_user in (owner, reader)
    }
    assert not strangers, f"tenant code ran as another role: {sorted(strangers)}"
    cluster = postgres.dsn()
    found = await hostile.roles(cluster, [owner, reader, capture])
    assert found[owner] == hostile.unprivileged()
    assert found[reader] == hostile.unprivileged()
    # Capture's role is the platform's: replication, one database, the group pg_hba admits on TCP.
    assert found[capture] == {**hostile.unprivileged(["bw_platform"]), "rolreplication": True}

    await nothing_outside_is_reachable(tenant, bystander, postgres)

    stack.admin("DELETE", f"/admin/databases/{tenant['name']}")
    if placement == "shared":
        assert await hostile.roles(cluster, [owner, reader, capture]) == {}
    else:
        assert not Path(postgres.root).exists()
    assert await hostile.roles(instance(stack, bystander["instance"]).dsn(), [f"u_{bystander['id']}"]) == {
        f"u_{bystander['id']}": hostile.unprivileged()
    }
    kept = await asyncpg.connect(bystander["dsn"])
    try:
        assert await kept.fetchval("SELECT body FROM notes") == "kept"
    finally:
        await kept.close()


async def nothing_outside_is_reachable(
    tenant: dict[str, Any], bystander: dict[str, Any], postgres: PostgresInstance
) -> None:
    dsn = tenant["dsn"]
    # Through the proxy: the maintenance databases and another tenant's database.
    for database in ("postgres", "template1", f"t_{bystander['id']}"):
        assert await refused(other_database(dsn, database)) in ("3D000", "42501")
    # Straight at the instance: over TCP pg_hba admits no tenant role; on its private socket (the
    # tenant cannot reach it, the test can) Postgres refuses the maintenance databases.
    password = dsn.split(":")[2].split("@")[0]
    owner = f"u_{tenant['id']}"
    assert await refused(postgres.dsn(f"t_{tenant['id']}", owner, password)) == "28000"
    socket = f"?host={postgres.socket_dir()}&port={postgres.port}"
    for database in ("postgres", "template1"):
        if database == "postgres" and tenant["instance"] != "shared-1":
            continue  # a dedicated instance has no `postgres` database
        assert await refused(f"postgresql://{owner}:{password}@/{database}{socket}") == "42501"
    # Inside its own database: nothing of the server's, and no way up.
    for sql in (
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "CREATE TABLE ran (line text); COPY ran FROM PROGRAM 'id'",
        "CREATE TABLE stolen (line text); COPY stolen FROM '/etc/passwd'",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT lo_import('/etc/passwd')",
        "SELECT * FROM pg_authid",
        "CREATE EXTENSION dblink",
        "ALTER SYSTEM SET log_statement = 'all'",
        "CREATE FUNCTION t() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$; "
        "CREATE EVENT TRIGGER t ON ddl_command_start EXECUTE FUNCTION t()",
        f"SET ROLE u_{bystander['id']}",
        f"SET ROLE c_{tenant['id']}",
        "SET ROLE postgres",
        "CREATE ROLE intruder LOGIN",
        f"ALTER ROLE {owner} SUPERUSER",
    ):
        # 22023: on a dedicated instance the bystander's role does not even exist.
        assert await refused(dsn, sql) in ("42501", "22023"), sql


async def test_capture_will_not_run_a_function_the_tenant_planted_in_its_schema(stack: Stack) -> None:
    """The schema capture keeps its event trigger's function in is the platform's: one the tenant
    made first (with a function of that name inside) makes opening a stream fail with a code, and
    nothing of the tenant's runs as the platform."""
    tenant = provision(stack, "shared")
    owner = f"u_{tenant['id']}"
    await run(tenant["dsn"], NOTES)
    await run(tenant["dsn"], hostile.arsenal(owner))
    await run(
        tenant["dsn"],
        "CREATE SCHEMA breakwater_capture; "
        "CREATE FUNCTION breakwater_capture.full_identity_without_key() RETURNS event_trigger "
        "LANGUAGE plpgsql AS $$ BEGIN PERFORM public.spy_note('planted'); END $$",
    )
    async with Client(tenant["url"]) as client:
        with pytest.raises(StreamError) as refused_stream:
            async with client.notes.stream(reconnect=False):
                pass
    assert (refused_stream.value.status, refused_stream.value.code) == (409, "BW3002")
    assert "breakwater_capture" in refused_stream.value.message
    superuser = instance(stack, tenant["instance"]).dsn(f"t_{tenant['id']}")
    assert {r.current_user for r in await hostile.spy_log(superuser)} <= {owner}
    assert (await hostile.roles(instance(stack, tenant["instance"]).dsn(), [owner]))[
        owner
    ] == hostile.unprivileged()
