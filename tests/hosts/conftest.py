"""Host-agent fixtures: an agent running in the test's event loop (its proxy included), and helpers
to provision databases on it. Its idle policy is off: tests drive pauses themselves."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

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
