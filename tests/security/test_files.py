"""What the stack writes to disk is its own: files holding tenant data or secrets are 0600 and their
folders 0700 (another user on the host reads nothing), and the Postgres logs never record a tenant's
statements or the values in them."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import asyncpg
import pytest

from breakwater import Client
from bwdev.stack import Stack
from hosts.postgres import PostgresError, PostgresInstance, _private_dir
from hosts.service_user import ServiceUser, service_user
from tests.conftest import TenantDatabase

pytestmark = pytest.mark.e2e

SECRET = "4111-1111-1111-1111"


def others_can_read(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH))


async def test_postgres_logs_hold_no_statement_and_no_value(stack: Stack, tenant: TenantDatabase) -> None:
    conn = await asyncpg.connect(tenant.dsn)
    try:
        await conn.execute("CREATE TABLE cards (number text PRIMARY KEY)")
        await conn.execute("INSERT INTO cards VALUES ($1)", SECRET)
        with pytest.raises(asyncpg.UniqueViolationError):  # its DETAIL quotes the key
            await conn.execute(f"INSERT INTO cards VALUES ('{SECRET}')")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO cards VALUES ($1)", SECRET)
        await conn.execute("SELECT pg_sleep(0.01)")
    finally:
        await conn.close()
    logs = list((stack.hosts_root / "instances").glob("*/postgres.log"))
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        assert SECRET not in text and "INSERT INTO cards" not in text
        assert not others_can_read(log), log


async def test_files_holding_secrets_or_tenant_data_are_private(stack: Stack, tenant: TenantDatabase) -> None:
    # Capture on (its role's password file) and an event stored by the local edge (its SQLite files).
    await tenant.sql("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    async with asyncio.timeout(60), Client(tenant.url) as client, client.notes.stream() as events:
        await tenant.sql("INSERT INTO notes (body) VALUES ('private')")
        assert (await anext(events))["created"] == {"id": 1, "body": "private"}
    root = stack.root
    private = [
        *(root / "logs").iterdir(),
        root / "secrets.json",
        root / "stack.json",
        *(p for p in (root / "edge").rglob("*") if p.is_file()),
        *(stack.hosts_root / "databases").iterdir(),
        *(stack.hosts_root / "instances").glob("*/instance.json"),
        *(stack.hosts_root / "instances").glob("*/capture/*.json"),
    ]
    assert any(p.parent.name == "capture" for p in private) and any(p.suffix == ".sqlite" for p in private)
    readable = [str(p) for p in private if others_can_read(p)]
    assert not readable
    for folder in (root / "logs", root / "edge", stack.hosts_root / "databases"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for folder in (stack.hosts_root / "instances").glob("*/capture"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_socket_too_deep_for_the_data_directory_gets_a_private_directory_of_its_own(tmp_path: Path) -> None:
    user = service_user()
    deep = PostgresInstance(tmp_path / ("x" * 80) / "instance", user)
    deep.root.mkdir(parents=True)
    deep.meta_path.write_text(
        '{"name": "i", "port": 54321, "superuser": "postgres", "superuser_password": "p"}'
    )
    folder = deep.socket_dir()
    assert folder != deep.data_dir and len(str(deep.socket_path())) <= 107
    assert folder == PostgresInstance(tmp_path / ("x" * 80) / "instance", user).socket_dir()  # stable
    try:
        _private_dir(folder, user)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == user.uid
        # Someone else's directory under that name (made first, to catch the socket) is refused.
        stranger = ServiceUser("stranger", user.uid + 1, user.gid)
        with pytest.raises(PostgresError, match="not a directory of the service user"):
            _private_dir(folder, stranger)
    finally:
        folder.rmdir()
