"""The `breakwater` CLI against the running stack."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import run_cli as cli

pytestmark = pytest.mark.e2e


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
            "bwdev.cli",
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


def test_json_goes_anywhere_on_the_line_and_tables_have_headers(stack: Stack) -> None:
    cli(stack, "db", "create", "anywhere-cli")
    for line in (("--json", "db", "list"), ("db", "--json", "list"), ("db", "list", "--json")):
        result = cli(stack, *line)
        assert result.returncode == 0, result.stderr
        assert "anywhere-cli" in [d["name"] for d in json.loads(result.stdout)["databases"]]
    human = cli(stack, "db", "list").stdout.splitlines()
    assert human[0].split() == ["NAME", "ID", "PLACEMENT", "HOST/INSTANCE", "WORKSPACE"]
    assert any(line.startswith("anywhere-cli ") for line in human[1:])
    keys = cli(stack, "key", "list", "anywhere-cli").stdout.splitlines()
    assert keys[0].split() == ["ID", "SCOPE", "STATE", "CREATED", "LABEL"] and len(keys) == 2


def test_db_show_tells_placement_state_dsn_and_keys_again(stack: Stack) -> None:
    made = json.loads(cli(stack, "--json", "db", "create", "show-cli").stdout)
    shown = json.loads(cli(stack, "db", "show", "show-cli", "--json").stdout)
    assert shown["database"] == made["database"]
    assert shown["postgres_dsn"] == made["postgres_dsn"]  # the DSN can be shown again
    assert shown["instance"]["state"] in ("running", "paused", "hibernated")
    assert [k["id"] for k in shown["keys"]] == [made["key"]["id"]]
    assert shown["url"] == f"prisma+postgres://127.0.0.1:{stack.ports['edge']}/?api_key=KEY"
    human = cli(stack, "db", "show", "show-cli")
    assert (
        human.returncode == 0 and made["postgres_dsn"] in human.stdout and "placement  shared" in human.stdout
    )
    missing = cli(stack, "db", "show", "no-such-db")
    assert missing.returncode == 1 and "no database named" in missing.stderr


def test_revoking_twice_says_the_second_time_changed_nothing(stack: Stack) -> None:
    cli(stack, "db", "create", "twice-cli")
    key = json.loads(cli(stack, "--json", "key", "create", "twice-cli").stdout)["key"]
    first = cli(stack, "key", "revoke", key["id"])
    assert first.returncode == 0 and first.stdout.startswith(f"revoked {key['id']}")
    second = cli(stack, "key", "revoke", key["id"])
    assert (
        second.returncode == 0 and "already revoked" in second.stdout and "nothing changed" in second.stdout
    )
    assert json.loads(cli(stack, "--json", "key", "revoke", key["id"]).stdout)["already_revoked"] is True
    unknown = cli(stack, "key", "revoke", "keynosuchkey")
    assert unknown.returncode == 1 and "no key" in unknown.stderr and "key list" in unknown.stderr


def test_db_delete_removes_the_database_and_revokes_its_keys(stack: Stack) -> None:
    made = json.loads(cli(stack, "--json", "db", "create", "gone-cli").stdout)
    deleted = cli(stack, "db", "delete", "gone-cli")
    assert deleted.returncode == 0 and "deleted gone-cli; revoked 1 key(s)" in deleted.stdout
    assert "gone-cli" not in [
        d["name"] for d in json.loads(cli(stack, "--json", "db", "list").stdout)["databases"]
    ]
    response = httpx.post(f"{stack.edge_url}/v1/query?api_key={made['api_key']}", json={})
    assert response.status_code == 401


def test_env_prints_exports_of_the_dev_database(stack: Stack, tmp_path: Path) -> None:
    made = json.loads(cli(stack, "--json", "db", "create", "env-cli").stdout)
    (tmp_path / "dev.json").write_text(json.dumps(stack.dev_info(made)))
    script = 'eval "$(breakwater env)"; echo "$EDGE|$KEY|$DATABASE_URL|$DIRECT_URL"'
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "BREAKWATER_HOME": str(tmp_path),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        },
    )
    assert result.stdout.strip().split("|") == [
        stack.edge_url,
        made["api_key"],
        made["url"],
        made["postgres_dsn"],
    ]
    nowhere = subprocess.run(
        [sys.executable, "-m", "bwdev.cli", "env"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BREAKWATER_HOME": str(tmp_path / "none")},
    )
    assert nowhere.returncode == 1 and "scripts/dev" in nowhere.stderr


def test_help_lists_every_command() -> None:
    from bwdev.cli import build_parser

    text = subprocess.run(
        [sys.executable, "-m", "bwdev.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    parser = build_parser()
    groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in groups.choices.items():
        assert name in text
        actions = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        for action in actions:
            for verb in action.choices:
                assert verb in text, f"`breakwater --help` does not mention {name} {verb}"
