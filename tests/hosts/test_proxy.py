"""The wake-on-connect proxy: startup handling, routing by database, credentials, cancel requests."""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import asyncpg
import pytest

from hosts import startup
from hosts.agent import Agent
from tests.hosts.conftest import fetch, provision


async def exchange(agent: Agent, *messages: bytes) -> bytes:
    """Send raw messages to the proxy; everything it answers until it closes (or goes quiet)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", agent.fleet.proxy_port)
    try:
        for message in messages:
            writer.write(message)
        await writer.drain()
        received = b""
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), 2)
            except TimeoutError:
                return received
            if not chunk:
                return received
            received += chunk
    finally:
        writer.close()


async def test_an_ssl_request_is_declined_and_the_startup_goes_on(agent: Agent) -> None:
    ssl_request = struct.pack("!ii", 8, startup.SSL_REQUEST)
    hello = startup.startup_message({"user": "u_nobody", "database": "t_nobody"})
    assert await exchange(agent, ssl_request, hello) == b"N" + startup.error_response(
        "3D000", 'database "t_nobody" does not exist'
    )


async def test_only_tenant_databases_are_reachable(agent: Agent) -> None:
    for database in ("postgres", "template1", "t_template"):
        hello = startup.startup_message({"user": "postgres", "database": database})
        assert await exchange(agent, hello) == startup.error_response(
            "3D000", f'database "{database}" does not exist'
        )


async def test_only_the_databases_own_role_gets_through(agent: Agent) -> None:
    database_id, dsn, _ = await provision(agent, "dedicated")
    superuser = dsn.replace(f"u_{database_id}:", "postgres:")
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as caught:
        await fetch(superuser, "SELECT 1")
    assert (caught.value.message, caught.value.detail) == (
        f'permission denied for database "t_{database_id}"',
        'Only the database\'s own roles connect to it; "postgres" is not one of them.',
    )


async def test_a_malformed_startup_is_refused_with_a_protocol_error(agent: Agent) -> None:
    assert await exchange(agent, struct.pack("!ii", 8, 4 << 16)) == startup.error_response(
        "0A000", "unsupported frontend protocol 4.0: server supports 3.0 to 3.0"
    )
    assert await exchange(agent, struct.pack("!i", 99_999)) == startup.error_response(
        "08P01", "invalid length of startup packet (99999 bytes)"
    )


async def test_a_client_that_never_finishes_its_startup_is_dropped(agent: Agent) -> None:
    agent.proxy.startup_timeout = 0.1
    try:
        started = time.monotonic()
        assert await exchange(agent, b"\x00\x00") == b""
        assert time.monotonic() - started < 1.5
    finally:
        agent.proxy.startup_timeout = 15.0


@pytest.mark.parametrize("placement", ["shared", "dedicated"])
async def test_psql_works_through_the_proxy_and_a_wrong_password_is_refused(
    agent: Agent, placement: str
) -> None:
    database_id, dsn, _ = await provision(agent, placement)
    psql = await asyncio.create_subprocess_exec(
        "psql",
        dsn,
        "-Atc",
        "SELECT current_user",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await psql.communicate()
    assert (psql.returncode, out.decode(), err.decode()) == (0, f"u_{database_id}\n", "")

    wrong = dsn.replace(dsn.split(":")[2].split("@")[0], "not-the-password")
    psql = await asyncio.create_subprocess_exec(
        "psql", wrong, "-Atc", "SELECT 1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await psql.communicate()
    assert psql.returncode == 2 and out == b""
    assert f'FATAL:  password authentication failed for user "u_{database_id}"' in err.decode()


async def test_a_cancel_request_reaches_the_instance_of_its_backend(agent: Agent) -> None:
    _, dsn, _ = await provision(agent, "dedicated")
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(TimeoutError):
            # On timeout asyncpg sends a CancelRequest on a new connection to the proxy.
            await conn.fetchval("SELECT pg_sleep(30)", timeout=0.2)
        started = time.monotonic()
        assert await conn.fetchval("SELECT 1") == 1  # only possible once the sleep was cancelled
        assert time.monotonic() - started < 5
    finally:
        await conn.close()


async def test_a_hibernated_database_is_started_by_its_first_connection(agent: Agent) -> None:
    database_id, dsn, managed = await provision(agent, "dedicated")
    await agent.fleet.hibernate(managed)
    assert managed.state == "hibernated"
    results = await asyncio.gather(*(fetch(dsn, "SELECT current_database()") for _ in range(5)))
    assert results == [f"t_{database_id}"] * 5  # five at once wake it once
    assert (managed.state, managed.hibernations) == ("running", 1)


async def test_an_instance_that_crashed_is_started_again_by_the_next_connection(agent: Agent) -> None:
    database_id, dsn, managed = await provision(agent, "dedicated")
    managed.instance.kill()  # SIGKILL to the postmaster, as the OOM killer would
    for _ in range(200):  # its children notice and exit
        if not managed.group or not (Path(managed.group) / "cgroup.procs").read_text().split():
            break
        await asyncio.sleep(0.01)
    assert await fetch(dsn, "SELECT current_database()") == f"t_{database_id}"
    assert managed.state == "running" and managed.instance.pid() is not None
