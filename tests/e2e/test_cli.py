"""The `breakwater` CLI against the running stack."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import asyncpg
import httpx
import pytest

from breakwater.stack import Stack

pytestmark = pytest.mark.e2e


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "breakwater.cli",
            "--origin",
            stack.origin_url,
            "--admin-token",
            stack.secrets["admin_token"],
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_db_create_prints_a_working_connection_url(stack: Stack) -> None:
    result = cli(stack, "db", "create", "from-cli")
    assert result.returncode == 0, result.stderr
    url = result.stdout.splitlines()[0]
    assert url.startswith(f"prisma+postgres://127.0.0.1:{stack.ports['edge']}/?api_key=bw1.")
    listed = json.loads(cli(stack, "--json", "db", "list").stdout)
    assert "from-cli" in [d["name"] for d in listed["databases"]]


def test_key_create_revoke_and_list(stack: Stack) -> None:
    made = json.loads(cli(stack, "--json", "db", "create", "keys-cli").stdout)
    key = json.loads(cli(stack, "--json", "key", "create", "keys-cli", "--read-only").stdout)
    assert key["key"]["scope"] == "read" and key["url"].endswith(key["api_key"])
    assert cli(stack, "key", "revoke", key["key"]["id"]).returncode == 0
    keys = json.loads(cli(stack, "--json", "key", "list", "keys-cli").stdout)["keys"]
    states = {k["id"]: k["revoked_at"] is not None for k in keys}
    assert states == {made["key"]["id"]: False, key["key"]["id"]: True}
    response = httpx.post(f"{stack.edge_url}/v1/query?api_key={key['api_key']}", json={})
    assert response.status_code == 401


def test_errors_say_what_to_do(stack: Stack) -> None:
    result = cli(stack, "key", "create", "no-such-db")
    assert result.returncode == 1
    assert "no database named" in result.stderr and "hint:" in result.stderr
    bad_token = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakwater.cli",
            "--origin",
            stack.origin_url,
            "--admin-token",
            "wrong",
            "db",
            "list",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad_token.returncode == 1 and "admin token" in bad_token.stderr


def test_db_create_dedicated_gets_its_own_instance(stack: Stack) -> None:
    made = json.loads(cli(stack, "--json", "db", "create", "own-cli", "--dedicated").stdout)
    assert made["database"]["placement"] == "dedicated"
    listed = json.loads(cli(stack, "--json", "db", "list").stdout)["databases"]
    shared = {d["instance"] for d in listed if d["placement"] == "shared"}
    assert made["database"]["instance"] not in shared


def test_table_full_images_switches_replica_identity(stack: Stack) -> None:
    made = json.loads(cli(stack, "--json", "db", "create", "images-cli").stdout)

    async def identity() -> str:
        conn = await asyncpg.connect(made["postgres_dsn"])
        try:
            return str(await conn.fetchval("SELECT relreplident::text FROM pg_class WHERE relname = 'notes'"))
        finally:
            await conn.close()

    async def create_table() -> None:
        conn = await asyncpg.connect(made["postgres_dsn"])
        try:
            await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        finally:
            await conn.close()

    asyncio.run(create_table())
    on = cli(stack, "table", "full-images", "images-cli", "notes", "on")
    assert on.returncode == 0, on.stderr
    assert "full images on" in on.stdout and asyncio.run(identity()) == "f"
    assert cli(stack, "table", "full-images", "images-cli", "notes", "off").returncode == 0
    assert asyncio.run(identity()) == "d"
    missing = cli(stack, "table", "full-images", "images-cli", "nope", "on")
    assert missing.returncode == 1 and "no table" in missing.stderr
