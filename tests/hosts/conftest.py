"""Host-agent fixtures: an agent running in the test's event loop (its proxy included), and helpers
to provision databases on it. Its idle policy is off: tests drive pauses themselves."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bwdev.stack import Stack, StackConfig
from hosts.agent import Agent
from hosts.fleet import Managed
from hosts.settings import AgentSettings


def scratch_base() -> Path | None:
    """tmpfs when there is one: an instance is ~600 small files, and creating and deleting files on
    the ext4 disks of CI machines costs 0.1-0.7 ms each. Behaviour is what these tests check."""
    shm = Path("/dev/shm")  # noqa: S108 (a parent for mkdtemp, not a file name)
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="package")
def scratch() -> Iterator[Path]:
    """A directory for agent roots, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bw-hosts-", dir=scratch_base()))
    path.chmod(0o755)  # the service user must pass through to its data directories
    yield path
    shutil.rmtree(path, ignore_errors=True)


def new_id() -> str:
    return "t" + secrets.token_hex(5)


def agent_settings(root: Path, **overrides: Any) -> AgentSettings:
    return AgentSettings(
        root=root, token="agent-token", durable=False, pause_after=0, hibernate_after=0, spares=1, **overrides
    )


async def stop_everything(agent: Agent) -> None:
    await agent.stop()
    for managed in agent.fleet.instances.values():
        managed.instance.stop()


@pytest.fixture(scope="package")
async def agent(scratch: Path) -> AsyncIterator[Agent]:
    running = Agent(agent_settings(scratch / "agent"))
    await running.start()
    yield running
    await stop_everything(running)


async def provision(agent: Agent, placement: str) -> tuple[str, str, Managed]:
    """A new database: its id, its DSN (through the proxy) and the instance holding it."""
    database_id = new_id()
    made = await agent.fleet.provision(database_id, placement)
    return database_id, made["dsn"], agent.fleet.managed_for(database_id)


async def fetch(dsn: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


@dataclass
class EdgeTenant:
    name: str
    id: str
    api_key: str
    dsn: str
    instance: str


def stack_with(root: Path, **env: str) -> Stack:
    """A stack of its own (tests that restart services must not share the session's)."""
    return Stack(StackConfig(root=root, durable=False, extra_env=env))


async def seeded_tenant(stack: Stack, placement: str) -> EdgeTenant:
    """A database with a `notes` table holding one row, created through the admin API."""
    name = f"{placement[:3]}-{secrets.token_hex(4)}"
    made = stack.admin("POST", "/admin/databases", {"name": name, "placement": placement})
    tenant = EdgeTenant(
        name, made["database"]["id"], made["api_key"], made["postgres_dsn"], made["database"]["instance"]
    )
    conn = await asyncpg.connect(tenant.dsn)
    try:
        await conn.execute(
            "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('hi')"
        )
    finally:
        await conn.close()
    return tenant


def instance_figures(stack: Stack, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        i for i in stack.admin("GET", "/admin/hosts")["instances"] if i["name"] == name
    )
    return found


def pool_figures(stack: Stack, database_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        d for d in stack.admin("GET", "/admin/pool")["databases"] if d["database_id"] == database_id
    )
    return found
