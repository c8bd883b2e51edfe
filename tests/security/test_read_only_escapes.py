"""A read-only key tries to write, on every front (`/v1`, Prisma 6's JSON protocol, Prisma 7 plans):
each statement of the corpus alone, sequences that leave the READ ONLY transaction and then write, in
batches (transactional and not) and in interactive transactions.

Every answer is below 500, every escape carries an error code, and afterwards nothing is written:
rows, the sequence, catalog objects, large objects, the read-only role's settings and password (the
origin logs in with the password it stored), advisory locks; and the database keeps serving.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from bwdev.stack import CONTROL_DATABASE, Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.plans.plans import body, raw, seq

pytestmark = pytest.mark.e2e

SETUP = """
CREATE TABLE notes (id serial PRIMARY KEY, body text);
INSERT INTO notes (body) VALUES ('kept');
CREATE PROCEDURE write_note() LANGUAGE sql AS $$ INSERT INTO notes (body) VALUES ('procedure') $$;
CREATE PROCEDURE commit_inside() LANGUAGE plpgsql
  AS $$ BEGIN COMMIT; INSERT INTO notes (body) VALUES ('c'); END $$;
CREATE FUNCTION side_effect() RETURNS int LANGUAGE sql
  AS $$ INSERT INTO notes (body) VALUES ('f') RETURNING 1 $$;
CREATE FUNCTION side_effect_definer() RETURNS int LANGUAGE sql SECURITY DEFINER
  AS $$ INSERT INTO notes (body) VALUES ('definer') RETURNING 1 $$;
"""

# Each statement alone: True if Postgres (or the origin) must refuse it; False where it may run and
# leaves nothing behind (the READ ONLY transaction is rolled back, the pool resets the session).
CORPUS: dict[str, tuple[str, bool]] = {
    "commit": ("COMMIT", True),
    "rollback": ("ROLLBACK", True),
    "end": ("END", True),
    "commit and chain": ("COMMIT AND CHAIN", False),
    "rollback and chain": ("ROLLBACK AND CHAIN", False),
    "prepare transaction": ("PREPARE TRANSACTION 'escape'", True),
    "set transaction read write": ("SET TRANSACTION READ WRITE", True),
    "session characteristics": ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", False),
    "default read only off": ("SET default_transaction_read_only = off", False),
    "set_config read write": ("SELECT set_config('transaction_read_only', 'off', false)", True),
    "set_config default": ("SELECT set_config('default_transaction_read_only', 'off', false)", False),
    "do insert": ("DO $$ BEGIN INSERT INTO notes (body) VALUES ('do'); END $$", True),
    "do commit": ("DO $$ BEGIN COMMIT; END $$", True),
    "call writer": ("CALL write_note()", True),
    "call committer": ("CALL commit_inside()", True),
    "invoker side effect": ("SELECT side_effect()", True),
    "definer side effect": ("SELECT side_effect_definer()", True),
    "nextval": ("SELECT nextval('notes_id_seq')", True),
    "setval": ("SELECT setval('notes_id_seq', 1000)", True),
    "advisory lock": ("SELECT pg_advisory_lock(4242)", False),
    "listen": ("LISTEN escape", False),
    "notify": ("NOTIFY escape", False),
    "temp table": ("CREATE TEMP TABLE scratch (v int)", True),
    "lo_create": ("SELECT lo_create(0)", True),
    "lo_from_bytea": ("SELECT lo_from_bytea(0, 'x')", True),
    "alter role password": ("ALTER ROLE CURRENT_USER PASSWORD 'known'", True),
    "alter role set": ("ALTER ROLE CURRENT_USER SET default_transaction_read_only = off", True),
    "writable cte": ("WITH gone AS (DELETE FROM notes RETURNING id) SELECT count(*) FROM gone", True),
    "select for update": ("SELECT * FROM notes FOR UPDATE", True),
    "lock table": ("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE", True),
    "copy to": ("COPY notes TO STDOUT", False),  # a read
    "copy from": ("COPY notes FROM STDIN", True),
    "explain analyze": ("EXPLAIN ANALYZE DELETE FROM notes", True),
    "insert": ("INSERT INTO notes (body) VALUES ('insert')", True),
    "update": ("UPDATE notes SET body = 'update'", True),
    "delete": ("DELETE FROM notes", True),
    "truncate": ("TRUNCATE notes", True),
    "create table": ("CREATE TABLE made (v int)", True),
    "drop table": ("DROP TABLE notes", True),
    "grant": ("GRANT ALL ON notes TO PUBLIC", True),
    "set role": ("SET ROLE postgres", True),
    "session authorization": ("SET SESSION AUTHORIZATION postgres", True),
    "discard all": ("DISCARD ALL", True),
    "vacuum": ("VACUUM notes", True),
}

# Leave the READ ONLY transaction, then write.
SEQUENCES: dict[str, list[str]] = {
    "commit then insert": ["COMMIT", "INSERT INTO notes (body) VALUES ('escaped')"],
    "chain then read write": [
        "COMMIT AND CHAIN",
        "SET TRANSACTION READ WRITE",
        "INSERT INTO notes (body) VALUES ('chained')",
    ],
    "rollback then password": ["ROLLBACK", "ALTER ROLE CURRENT_USER PASSWORD 'known'"],
    "characteristics then commit": [
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "COMMIT",
        "SELECT lo_create(0)",
    ],
    "rollback chain then nextval": [
        "ROLLBACK AND CHAIN",
        "SET TRANSACTION READ WRITE",
        "SELECT nextval('notes_id_seq')",
    ],
    "end then role setting": ["END", "ALTER ROLE CURRENT_USER SET default_transaction_read_only = off"],
}


@dataclass
class Answer:
    status: int
    code: str | None

    def __str__(self) -> str:
        return f"{self.status} {self.code}"


def error_code(error: dict[str, Any]) -> str | None:
    """The code of one error as /v1 (`code`) or the Prisma 6 front (`user_facing_error`) shows it."""
    found = error.get("code") or error.get("user_facing_error", {}).get("error_code")
    return str(found) if found else None


async def answer(response: httpx.Response) -> Answer:
    """The status, and the first error code: the response's own, or one query's of a batch."""
    code = response.headers.get("prisma-error-code")
    if code is None and response.status_code < 500:
        found = response.json()
        parts = found.get("batchResult", []) if isinstance(found, dict) else []
        for errors in [found.get("errors", [])] + [p.get("errors", []) for p in parts]:
            code = code or next((c for c in map(error_code, errors) if c), None)
        if response.status_code >= 400:
            code = code or found.get("code")
    return Answer(response.status_code, code)


def v1_raw(sql: str) -> dict[str, Any]:
    return {"action": "queryRaw", "query": {"arguments": {"query": sql, "parameters": "[]"}, "selection": {}}}


async def v1_send(client: httpx.AsyncClient, statements: list[str], mode: str) -> list[Answer]:
    queries = [v1_raw(s) for s in statements]
    if mode == "single":
        return [await answer(await client.post("/v1/query", json=queries[0]))]
    if mode != "interactive":
        batch: dict[str, Any] = {"batch": queries, **({"transaction": {}} if mode == "transactional" else {})}
        return [await answer(await client.post("/v1/query", json=batch))]
    tx = (await client.post("/v1/transaction/start", json={})).json()["id"]
    found = [await answer(await client.post(f"/v1/transaction/{tx}/query", json=q)) for q in queries]
    found.append(await answer(await client.post(f"/v1/transaction/{tx}/commit")))
    return found


def prisma6(hash_: str) -> Callable[[httpx.AsyncClient, list[str], str], Awaitable[list[Answer]]]:
    async def send(client: httpx.AsyncClient, statements: list[str], mode: str) -> list[Answer]:
        base = f"/6.19.3/{hash_}"
        queries = [v1_raw(s) for s in statements]
        if mode == "single":
            return [await answer(await client.post(f"{base}/graphql", json=queries[0]))]
        if mode != "interactive":
            batch: dict[str, Any] = {
                "batch": queries,
                **({"transaction": {}} if mode == "transactional" else {}),
            }
            return [await answer(await client.post(f"{base}/graphql", json=batch))]
        started = await client.post(f"{base}/transaction/start", json={})
        tx = started.json()["id"]
        found = [await answer(await client.post(f"{base}/itx/{tx}/graphql", json=q)) for q in queries]
        found.append(await answer(await client.post(f"{base}/itx/{tx}/commit")))
        return found

    return send


def plan_node(sql: str) -> dict[str, Any]:
    reading = sql.split()[0].upper() in ("SELECT", "WITH")
    return raw("query" if reading else "execute", sql)


async def prisma7_send(client: httpx.AsyncClient, statements: list[str], mode: str) -> list[Answer]:
    nodes = [plan_node(s) for s in statements]
    if mode == "single":
        return [await answer(await client.post("/query", json=body(nodes[0], operation="queryRaw")))]
    if mode != "interactive":
        # A plan is one request; its statements run in order on one connection.
        return [await answer(await client.post("/query", json=body(seq(*nodes), operation="queryRaw")))]
    tx = (await client.post("/transaction/start", json={})).json()["id"]
    found = [
        await answer(await client.post(f"/transaction/{tx}/query", json=body(n, operation="queryRaw")))
        for n in nodes
    ]
    found.append(await answer(await client.post(f"/transaction/{tx}/commit")))
    return found


@dataclass
class Target:
    tenant: TenantDatabase
    reader: asyncpg.Connection  # the tenant's own session, to look at what is left
    client: httpx.AsyncClient  # the edge, with the read-only key
    send: Callable[[httpx.AsyncClient, list[str], str], Awaitable[list[Answer]]]


FRONTS = ("v1", "prisma6", "prisma7")


@pytest.fixture(params=FRONTS)
async def target(request: pytest.FixtureRequest, stack: Stack) -> AsyncIterator[Target]:
    tenant = create_tenant(stack, "ro")
    key = stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": "read"})["api_key"]
    conn = await asyncpg.connect(tenant.dsn)
    await conn.execute(SETUP)
    async with httpx.AsyncClient(
        base_url=stack.edge_url, headers={"authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        send: Any = {"v1": v1_send, "prisma7": prisma7_send}.get(request.param)
        if request.param == "prisma6":
            schema = 'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n'
            upload = base64.b64encode(schema.encode())
            hash_ = hashlib.sha256(upload).hexdigest()
            assert (await client.put(f"/6.19.3/{hash_}/schema", content=upload)).status_code == 200
            send = prisma6(hash_)
        try:
            yield Target(tenant, conn, client, send)
        finally:
            await conn.close()


async def state(target: Target) -> dict[str, Any]:
    """Everything a write could have changed, seen from the tenant's own session."""
    conn = target.reader
    reader = f"r_{target.tenant.id}"
    return {
        "rows": [r["body"] for r in await conn.fetch("SELECT body FROM notes ORDER BY id")],
        "sequence": await conn.fetchval("SELECT last_value FROM notes_id_seq"),
        "objects": await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ),
        "functions": await conn.fetchval(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        ),
        "large objects": await conn.fetchval("SELECT count(*) FROM pg_largeobject_metadata"),
        "reader settings": await conn.fetchval(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = $1",
            reader,
        ),
        "advisory lock free": await conn.fetchval(
            "SELECT pg_try_advisory_lock(4242) AND pg_advisory_unlock(4242)"
        ),
    }


async def test_a_read_only_key_writes_nothing_however_it_tries(stack: Stack, target: Target) -> None:
    before = await state(target)
    assert before["rows"] == ["kept"] and before["reader settings"] == ["default_transaction_read_only=on"]
    seen: dict[str, list[Answer]] = {}
    for name, (sql, must_refuse) in CORPUS.items():
        answers = await target.send(target.client, [sql], "single")
        seen[name] = answers
        assert all(a.status < 500 for a in answers), (name, [str(a) for a in answers])
        if must_refuse:
            assert answers[0].code, (name, str(answers[0]))
    for name, statements in SEQUENCES.items():
        for mode in ("batch", "transactional", "interactive"):
            answers = await target.send(target.client, statements, mode)
            seen[f"{name} ({mode})"] = answers
            assert all(a.status < 500 for a in answers), (name, mode, [str(a) for a in answers])
            assert any(a.code for a in answers), (name, mode, [str(a) for a in answers])
    assert await state(target) == before, json.dumps({k: [str(a) for a in v] for k, v in seen.items()})
    # The database keeps serving the key, and the role's password is still the one the origin stored.
    still = await target.send(target.client, ["SELECT body FROM notes"], "single")
    assert still[0].status == 200 and still[0].code is None
    assert stack.control is not None
    control = await asyncpg.connect(stack.control.dsn(CONTROL_DATABASE))
    try:
        dsn = await control.fetchval("SELECT readonly_dsn FROM databases WHERE id = $1", target.tenant.id)
    finally:
        await control.close()
    direct = await asyncpg.connect(dsn)
    try:
        assert await direct.fetchval("SELECT current_user") == f"r_{target.tenant.id}"
    finally:
        await direct.close()
