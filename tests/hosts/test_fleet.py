"""The agent's instances: provisioning both placements, pausing, hibernating, destroying, adopting
what an earlier agent left, and the idle policy."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import asyncpg
import pytest

from hosts import capture, freezer
from hosts.agent import Agent
from hosts.fleet import FleetError
from hosts.registry import database_name
from origin.capture.pgwire import Connection
from tests.hosts.conftest import agent_settings, fetch, new_id, provision, stop_everything

WHO = (
    "SELECT current_database() || ' ' || current_user || ' ' || "
    "(SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user)"
)


@pytest.mark.parametrize("placement", ["shared", "dedicated"])
async def test_a_new_database_answers_through_the_proxy_as_its_own_unprivileged_role(
    agent: Agent, placement: str
) -> None:
    database_id, dsn, managed = await provision(agent, placement)
    assert f":{agent.fleet.proxy_port}/t_{database_id}" in dsn
    assert await fetch(dsn, WHO) == f"t_{database_id} u_{database_id} false"
    assert managed.name == ("shared-1" if placement == "shared" else f"d-{database_id}")
    figures = agent.fleet.figures(managed)
    assert (figures["placement"], figures["state"], database_id in figures["databases"]) == (
        placement,
        "running",
        True,
    )
    assert figures["processes"] >= 4 and figures["memory_pss_kb"] > 0


async def test_a_tenant_cannot_reach_another_tenants_database(agent: Agent) -> None:
    first, first_dsn, _ = await provision(agent, "shared")
    second, _, shared = await provision(agent, "shared")
    # Through the proxy: refused before Postgres is asked.
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database") as caught:
        await fetch(first_dsn.replace(f"/t_{first}", f"/t_{second}"), "SELECT 1")
    assert (
        caught.value.detail
        == f'Only the database\'s own roles connect to it; "u_{first}" is not one of them.'
    )

    # Straight at the shared cluster over TCP: pg_hba admits no tenant role there.
    password = first_dsn.split(":")[2].split("@")[0]
    direct = shared.instance.dsn(f"t_{first}", f"u_{first}", password)
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match=r"no pg_hba\.conf entry"):
        await fetch(direct, "SELECT 1")
    # On the Unix socket (only the host's own processes reach it), Postgres itself refuses: CONNECT
    # is granted to the database's own roles only.
    socket = shared.instance.socket_dir()
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await fetch(
            f"postgresql://u_{first}:{password}@/t_{second}?host={socket}&port={shared.instance.port}",
            "SELECT 1",
        )


async def test_a_dedicated_instance_is_a_copy_of_the_template_never_a_link(agent: Agent) -> None:
    _database_id, dsn, managed = await provision(agent, "dedicated")
    await fetch(dsn, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS v")
    assert agent.fleet.template is not None
    for data_dir in (managed.instance.data_dir, agent.fleet.template.data_dir):
        for folder, _, files in os.walk(data_dir):
            for name in files:
                assert os.stat(Path(folder) / name).st_nlink == 1, f"{folder}/{name} is hard-linked"
    assert agent.fleet.copy_mode in ("reflink", "copy")


async def test_a_pooled_connection_survives_a_pause_and_a_hibernated_database_starts_on_connect(
    agent: Agent,
) -> None:
    _database_id, dsn, managed = await provision(agent, "dedicated")
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
    backend = await conn.fetchval("SELECT pg_backend_pid()")

    assert await agent.fleet.pause(managed)
    figures = agent.fleet.figures(managed)
    assert (figures["state"], figures["frozen"]) == ("paused", True)
    assert await conn.fetchval("SELECT v FROM kept") == 7  # the proxy thaws it first
    assert await conn.fetchval("SELECT pg_backend_pid()") == backend
    assert (managed.state, managed.resumes) == ("running", 1)

    starts = managed.starts
    assert await agent.fleet.hibernate(managed)
    figures = agent.fleet.figures(managed)
    assert (figures["state"], figures["pid"], figures["processes"]) == ("hibernated", None, 0)
    await asyncio.sleep(0.05)
    assert conn.is_closed()  # hibernation ends sessions
    assert await fetch(dsn, "SELECT v FROM kept") == 7  # and a new connection starts it again
    assert (managed.state, managed.starts) == ("running", starts + 1)


async def test_destroying_a_dedicated_database_removes_its_instance(agent: Agent) -> None:
    database_id, dsn, managed = await provision(agent, "dedicated")
    group = managed.group
    await agent.fleet.destroy(database_id)
    assert not managed.instance.root.exists()
    assert not group or not Path(group).exists()
    assert managed.name not in agent.fleet.instances
    with pytest.raises(asyncpg.InvalidCatalogNameError, match="does not exist"):
        await fetch(dsn, "SELECT 1")
    with pytest.raises(FleetError, match="no database"):
        await agent.fleet.destroy(database_id)


async def test_destroying_a_shared_database_drops_it_and_its_role(agent: Agent) -> None:
    database_id, _dsn, shared = await provision(agent, "shared")
    await agent.fleet.destroy(database_id)
    left = await fetch(
        shared.instance.dsn(),
        "SELECT count(*) FROM pg_database d, pg_roles r WHERE d.datname = $1 OR r.rolname = $2",
        f"t_{database_id}",
        f"u_{database_id}",
    )
    assert left == 0


async def test_provisioning_refuses_bad_ids_placements_and_duplicates(agent: Agent) -> None:
    with pytest.raises(ValueError, match="invalid database id"):
        await agent.fleet.provision("Robert'); DROP", "shared")
    with pytest.raises(FleetError, match="placement is 'shared' or 'dedicated'"):
        await agent.fleet.provision(new_id(), "roommate")
    database_id, _, _ = await provision(agent, "shared")
    with pytest.raises(FleetError, match="exists already"):
        await agent.fleet.provision(database_id, "dedicated")


async def test_a_restarted_agent_adopts_every_instance_as_it_was_and_cleans_up_leftovers(
    scratch: Path,
) -> None:
    tmp_path = scratch / "restarted"
    first = Agent(agent_settings(tmp_path))
    await first.start()
    second: Agent | None = None
    try:
        running = [await provision(first, p) for p in ("shared", "dedicated")]
        paused, _, paused_managed = await provision(first, "dedicated")
        asleep, asleep_dsn, asleep_managed = await provision(first, "dedicated")
        await first.fleet.pause(paused_managed)
        await first.fleet.hibernate(asleep_managed)
        states = {m.name: m.state for m in first.fleet.instances.values()}
        await first.stop()  # as a crash would leave them: nothing is stopped
        # What a crash can leave behind: an instance whose provisioning never finished, and a
        # record whose instance is gone.
        (tmp_path / "instances" / "d-halfway" / "data").mkdir(parents=True)
        (tmp_path / "databases" / "orphan.json").write_text(
            json.dumps({"id": "orphan", "placement": "dedicated", "instance": "d-orphan", "created_at": "x"})
        )

        second = Agent(first.settings)
        await second.start()
        assert {m.name: m.state for m in second.fleet.instances.values()} == states
        assert (states[f"d-{paused}"], states[f"d-{asleep}"]) == ("paused", "hibernated")
        assert second.fleet.proxy_port == first.fleet.proxy_port  # the DSNs handed out stay valid
        assert not (tmp_path / "instances" / "d-halfway").exists()
        assert "orphan" not in second.fleet.databases
        assert not (tmp_path / "databases" / "orphan.json").exists()
        for database_id, dsn, _ in [*running, (asleep, asleep_dsn, None)]:
            assert await fetch(dsn, "SELECT current_database()") == f"t_{database_id}"
        assert second.fleet.managed_for(asleep).state == "running"
    finally:
        await stop_everything(second or first)


async def test_the_idle_policy_pauses_then_hibernates_an_idle_instance(agent: Agent) -> None:
    _, dsn, managed = await provision(agent, "dedicated")
    conn = await asyncpg.connect(dsn)
    fleet = agent.fleet
    settings = fleet.settings
    fleet.settings = dataclasses.replace(settings, pause_after=30, hibernate_after=600)
    try:
        await fleet.apply_idle_policy()
        assert managed.state == "running"  # not idle long enough
        managed.last_active = time.monotonic() - 31
        await fleet.apply_idle_policy()
        assert managed.state == "paused"
        managed.last_active = time.monotonic() - 601
        await fleet.apply_idle_policy()
        assert managed.state == "hibernated"
        await asyncio.sleep(0.05)
        assert conn.is_closed()
    finally:
        fleet.settings = settings


async def test_an_instance_running_a_query_is_not_paused(agent: Agent) -> None:
    _, dsn, managed = await provision(agent, "dedicated")
    fleet = agent.fleet
    settings = fleet.settings
    fleet.settings = dataclasses.replace(settings, pause_after=30)
    conn = await asyncpg.connect(dsn)
    try:
        sleeping = asyncio.create_task(conn.fetchval("SELECT pg_sleep(0.5)::text"))
        await asyncio.sleep(0.1)
        managed.last_active = time.monotonic() - 31
        await fleet.apply_idle_policy()
        assert managed.state == "running"
        assert time.monotonic() - managed.last_active < 5  # looked again only a full idle period later
        assert await sleeping == ""
    finally:
        fleet.settings = settings
        await conn.close()


async def test_a_client_that_bypassed_the_proxy_keeps_the_instance_awake(agent: Agent) -> None:
    # Such a client could not wake a frozen instance: it would hang, so the instance stays up.
    _, _, managed = await provision(agent, "dedicated")
    fleet = agent.fleet
    settings = fleet.settings
    fleet.settings = dataclasses.replace(settings, pause_after=30)
    direct = await asyncpg.connect(managed.instance.dsn())
    try:
        managed.last_active = time.monotonic() - 31
        await fleet.apply_idle_policy()
        assert managed.state == "running"
    finally:
        await direct.close()
    try:
        managed.last_active = time.monotonic() - 31
        await fleet.apply_idle_policy()
        assert managed.state == "paused"
        assert managed.pid is not None and not freezer.thawed(managed.group, managed.pid)
    finally:
        fleet.settings = settings
        await fleet.wake(managed)


async def test_a_capture_wal_sender_does_not_keep_the_instance_awake(agent: Agent) -> None:
    """The origin's replication session connects directly, but it only waits for changes, and a
    change comes from a writer who wakes the instance through the proxy."""
    database_id, dsn, managed = await provision(agent, "dedicated")
    setup = await capture.enable(managed.instance, database_id)
    slot = "idle_capture_test"
    await fetch(setup["dsn"], f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')::text")
    sender = await Connection.connect(setup["dsn"])
    fleet = agent.fleet
    settings = fleet.settings
    fleet.settings = dataclasses.replace(settings, pause_after=30)
    try:
        await sender.start_replication(
            f"START_REPLICATION SLOT {slot} LOGICAL 0/0 "
            f"(proto_version '1', publication_names '{setup['publication']}')"
        )
        managed.last_active = time.monotonic() - 31
        await fleet.apply_idle_policy()
        assert managed.state == "paused"
        # A writer through the proxy wakes it; the frozen sender goes on and streams the change.
        writer = await asyncpg.connect(dsn)
        try:
            await writer.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
        finally:
            await writer.close()
        assert managed.state == "running"
        kinds = set()
        while b"I" not in kinds:
            data = await asyncio.wait_for(sender.read_copy(), 10)
            assert data is not None
            if data[:1] == b"w":
                kinds.add(data[25:26])
    finally:
        fleet.settings = settings
        sender.abort()
        await fleet.wake(managed)
        await asyncio.sleep(0.2)  # the sender exits before its slot can be dropped
        await fetch(
            managed.instance.dsn(database_name(database_id)),
            f"SELECT pg_drop_replication_slot('{slot}')::text",
        )


async def test_shared_databases_from_before_the_registry_are_adopted(scratch: Path) -> None:
    first = Agent(agent_settings(scratch / "upgraded"))
    await first.start()
    second: Agent | None = None
    try:
        database_id, dsn, _ = await provision(first, "shared")
        await first.stop()
        shutil.rmtree(scratch / "upgraded" / "databases")  # what the walking skeleton's agent left
        second = Agent(first.settings)
        await second.start()
        assert second.fleet.databases[database_id].placement == "shared"
        assert await fetch(dsn, "SELECT current_database()") == f"t_{database_id}"
    finally:
        await stop_everything(second or first)


async def test_a_shared_cluster_made_by_an_older_agent_gets_the_current_settings(scratch: Path) -> None:
    first = Agent(agent_settings(scratch / "older"))
    await first.start()
    second: Agent | None = None
    try:
        _, dsn, _ = await provision(first, "shared")
        await first.stop()
        shared = first.fleet.shared.instance
        # What an agent from before change capture's 256 slots left behind.
        meta = shared.meta
        meta.settings["max_replication_slots"] = "10"
        shared.save_meta(meta)
        conf = shared.data_dir / "postgresql.conf"
        conf.write_text(conf.read_text() + "max_replication_slots = '10'\n")
        second = Agent(first.settings)
        await second.start()
        assert await fetch(dsn, "SHOW max_replication_slots") == "256"
        assert second.fleet.shared.instance.meta.settings["max_replication_slots"] == "256"
    finally:
        await stop_everything(second or first)


async def test_the_agent_applies_its_idle_policy_on_its_own(agent: Agent) -> None:
    _, dsn, managed = await provision(agent, "dedicated")
    fleet = agent.fleet
    settings = fleet.settings
    fleet.settings = dataclasses.replace(settings, pause_after=0.3, hibernate_after=0, idle_interval=0.05)
    fleet.start_idle_policy()
    try:
        for _ in range(100):
            if managed.state == "paused":
                break
            await asyncio.sleep(0.05)
        assert managed.state == "paused"
        assert await fetch(dsn, "SELECT 1") == 1  # and a query wakes it
    finally:
        await fleet.stop_idle_policy()
        fleet.settings = settings
