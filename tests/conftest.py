"""Shared fixtures: real Postgres (through the project's host code) and the whole stack.

One stack per test session (control Postgres, host agent, origin, edge on the local runtime, each a
subprocess); tests isolate themselves by creating their own databases in it.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bwdev.stack import Stack, StackConfig
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The recorded Prisma client sessions (test vectors), copied from the founders' shared/protocol.
CAPTURES = PROJECT_ROOT / "tests" / "protocol" / "captures"


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    base = Path(os.environ.get("BREAKWATER_TEST_TMP", tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix="bw-test-", dir=base) as path:
        yield Path(path)


_tmp_numbers = itertools.count(1)


@pytest.fixture
def tmp_path(session_dir: Path, request: pytest.FixtureRequest) -> Path:
    """pytest's tmp_path, but under this session's own folder: pytest makes /tmp/pytest-of-<user> 0700
    again whenever another test run on the machine starts, which would cut the Postgres service user
    off from the instances tests create below it."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    path = session_dir / "tmp" / f"{name}-{next(_tmp_numbers)}"
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="session")
def postgres(session_dir: Path) -> Iterator[PostgresInstance]:
    """A plain Postgres instance for tests that need only a database, not the stack."""
    instance = PostgresInstance(session_dir / "pg", service_user())
    instance.create(durable=False)
    instance.start()
    yield instance
    instance.stop()


_names = itertools.count(1)


@pytest.fixture
async def pg_database(postgres: PostgresInstance) -> AsyncIterator[str]:
    """A fresh, empty database on `postgres`; yields its superuser DSN."""
    name = f"test_{os.getpid()}_{next(_names)}"
    admin = await asyncpg.connect(postgres.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield postgres.dsn(name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def stack(session_dir: Path) -> Iterator[Stack]:
    with Stack(StackConfig(root=session_dir / "stack", durable=False)) as started:
        yield started


@dataclass
class TenantDatabase:
    name: str
    id: str
    api_key: str
    url: str
    dsn: str
    key_id: str

    async def sql(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()


def create_tenant(stack: Stack, prefix: str = "db", *, name: str = "", **fields: str) -> TenantDatabase:
    """A database made through the admin API (`fields`: placement, workspace, host...), named
    `name` or a fresh name starting with `prefix`."""
    name = name or f"{prefix}{next(_names)}"
    made = stack.admin("POST", "/admin/databases", {"name": name, **fields})
    return TenantDatabase(
        name=name,
        id=made["database"]["id"],
        api_key=made["api_key"],
        url=made["url"],
        dsn=made["postgres_dsn"],
        key_id=made["key"]["id"],
    )


def run_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator's command line (`bwdev.cli`) against `stack`'s origin, as an operator runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bwdev.cli",
            "--origin",
            stack.origin_url,
            # One word: a token may start with "-", which argparse would take for an option.
            f"--admin-token={stack.secrets['admin_token']}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tenant(stack: Stack) -> TenantDatabase:
    return create_tenant(stack)


@pytest.fixture
async def edge(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=60) as client:
        yield client
