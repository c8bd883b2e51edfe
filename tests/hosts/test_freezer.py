"""Pausing a real instance with every freezer this machine offers: the whole process tree stops,
connections stay open, and a query sent while frozen is answered once thawed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from hosts import freezer
from hosts.postgres import PostgresInstance
from hosts.service_user import service_user


@pytest.fixture(scope="module")
def created(tmp_path_factory: pytest.TempPathFactory) -> PostgresInstance:
    made = PostgresInstance(tmp_path_factory.mktemp("freezer") / "frozen", service_user())
    made.create(durable=False)
    return made


@pytest.fixture
def instance(created: PostgresInstance) -> Iterator[PostgresInstance]:
    created.start()
    yield created
    created.stop()


def placed(instance: PostgresInstance, kind: str) -> tuple[freezer.Freezer, str, int]:
    chosen = freezer.detect(kind)
    pid = instance.pid()
    assert pid is not None
    group = chosen.group_for(freezer.scope_for(instance.root), "test")
    chosen.place(group, pid)
    meta = instance.meta
    meta.group = group
    instance.save_meta(meta)
    return chosen, group, pid


@pytest.mark.parametrize("kind", freezer.available())
async def test_a_frozen_instance_keeps_its_connection_and_answers_once_thawed(
    instance: PostgresInstance, kind: str
) -> None:
    chosen, group, pid = placed(instance, kind)
    conn = await asyncpg.connect(instance.dsn())
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    tree = set(freezer.process_tree(pid))
    assert {pid, backend} <= tree and len(tree) >= 5  # postmaster, its helpers, our backend
    if group:
        assert set(chosen.pids(group, pid)) == tree  # every process is inside the group

    chosen.freeze(group, pid)
    freezer.wait_settled(group, pid)
    assert chosen.is_frozen(group, pid) and not freezer.thawed(group, pid)
    if kind == "signals":
        assert all(freezer.is_stopped(p) for p in tree)
    query = asyncio.create_task(conn.fetchval("SELECT 42"))
    await asyncio.sleep(0.2)
    assert not query.done(), "a frozen instance must not answer"

    chosen.thaw(group, pid)
    assert await asyncio.wait_for(query, 5) == 42
    assert freezer.thawed(group, pid)
    assert await conn.fetchval("SELECT pg_backend_pid()") == backend  # the same session survived
    await conn.close()


@pytest.mark.parametrize("kind", freezer.available())
def test_a_frozen_instance_can_still_be_stopped(instance: PostgresInstance, kind: str) -> None:
    chosen, group, pid = placed(instance, kind)
    chosen.freeze(group, pid)
    freezer.wait_settled(group, pid)
    instance.stop()
    assert instance.pid() is None
    assert not group or not Path(group).exists()  # the empty group is removed


def test_auto_picks_the_best_kind_available() -> None:
    assert freezer.detect().kind == freezer.available()[0]
    with pytest.raises(freezer.FreezerError, match="unknown freezer"):
        freezer.detect("ice")


def test_groups_of_different_agent_roots_never_collide(tmp_path: Path) -> None:
    assert freezer.scope_for(tmp_path / "a") != freezer.scope_for(tmp_path / "b")
    assert freezer.scope_for(tmp_path / "a") == freezer.scope_for(tmp_path / "a" / ".." / "a")
