"""One Postgres instance from the machine's binaries, under the non-root service user."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from hosts.postgres import PostgresError, PostgresInstance
from hosts.service_user import service_user


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


async def test_an_instance_is_created_started_stopped_and_keeps_its_data(tmp_path: Path) -> None:
    instance = PostgresInstance(tmp_path / "one", service_user())
    instance.create(durable=False)
    instance.start()
    try:
        pid = instance.pid()
        assert pid is not None and instance.is_ready()
        assert uid_of(pid) != 0, "Postgres must not run as root"
        assert uid_of(pid) == service_user().uid
        conn = await asyncpg.connect(instance.dsn())
        await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        settings = dict(
            await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'listen_addresses')"
            )
        )
        await conn.close()
        assert settings == {"wal_level": "logical", "listen_addresses": "127.0.0.1"}
        instance.stop()
        assert instance.pid() is None
        instance.start()
        conn = await asyncpg.connect(instance.dsn())
        assert await conn.fetchval("SELECT v FROM kept") == 42
        await conn.close()
    finally:
        instance.stop()


async def test_the_superuser_needs_its_password(tmp_path: Path) -> None:
    instance = PostgresInstance(tmp_path / "auth", service_user())
    instance.create(durable=False)
    instance.start()
    try:
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(instance.dsn(password="wrong"))
    finally:
        instance.stop()


def test_creating_over_an_existing_instance_is_refused(tmp_path: Path) -> None:
    instance = PostgresInstance(tmp_path / "twice", service_user())
    instance.create(durable=False)
    with pytest.raises(PostgresError, match="already exists"):
        PostgresInstance(tmp_path / "twice", service_user()).create(durable=False)


def test_a_failed_start_reports_the_postgres_log(tmp_path: Path) -> None:
    instance = PostgresInstance(tmp_path / "broken", service_user())
    instance.create(durable=False)
    conf = instance.data_dir / "postgresql.conf"
    os.chmod(conf, 0o644)
    conf.write_text(conf.read_text() + "\nshared_buffers = 'lots'\n")
    with pytest.raises(PostgresError, match="shared_buffers"):
        instance.start()
