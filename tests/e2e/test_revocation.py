"""Revoking a key ends what it holds open, within the revocation TTL: its interactive transactions
roll back (origin/revocations.py) and its change streams close (eventroutes.revoked), while other
keys of the same database carry on. Through the session's stack."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from breakwater import Client, StreamError
from bwdev.stack import Stack
from tests.conftest import TenantDatabase

pytestmark = pytest.mark.e2e

INSERT_ONE = {
    "action": "executeRaw",
    "query": {"arguments": {"query": "INSERT INTO ledger (id, note) VALUES (1, 'held')"}},
}


def second_key(stack: Stack, tenant: TenantDatabase) -> dict[str, Any]:
    return stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": "read-write"})


async def row_one_is_locked(tenant: TenantDatabase) -> bool:
    """Whether an open transaction still holds id 1 (its uncommitted insert blocks ours)."""
    conn = await asyncpg.connect(tenant.dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '100ms'")
            await conn.execute("INSERT INTO ledger (id, note) VALUES (1, 'probe')")
            raise _Probe
    except _Probe:
        return False  # inserted, then rolled back: nothing held the row
    except asyncpg.LockNotAvailableError:
        return True
    finally:
        await conn.close()


class _Probe(Exception):
    pass


async def test_revoking_a_key_rolls_back_its_open_transaction_within_the_ttl(
    stack: Stack, tenant: TenantDatabase, edge: httpx.AsyncClient
) -> None:
    await tenant.sql("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    other = second_key(stack, tenant)
    auth = {"authorization": f"Bearer {tenant.api_key}"}
    started = await edge.post("/v1/transaction/start", json={"timeout": 15_000}, headers=auth)
    tx = started.json()["id"]
    written = await edge.post(f"/v1/transaction/{tx}/query", json=INSERT_ONE, headers=auth)
    assert written.status_code == 200, written.text
    assert await row_one_is_locked(tenant)

    stack.admin("POST", f"/admin/keys/{tenant.key_id}/revoke")
    revoked_at = time.monotonic()
    while await row_one_is_locked(tenant):
        assert time.monotonic() - revoked_at < stack.config.revocation_ttl, "still open after the TTL"
        await asyncio.sleep(0.05)

    # Another key of the database cannot commit it either: it is gone, and said why.
    commit = await edge.post(
        f"/v1/transaction/{tx}/commit", headers={"authorization": f"Bearer {other['api_key']}"}
    )
    assert (commit.status_code, commit.json()["code"]) == (409, "P2028")
    assert "revoked" in commit.json()["message"]
    assert await tenant.sql("SELECT * FROM ledger") == []
    refused = await edge.post("/v1/transaction/start", json={}, headers=auth)
    assert (refused.status_code, refused.json()["code"]) == (401, "P6002")


async def test_revoking_a_key_closes_its_streams_and_only_its_own(
    stack: Stack, tenant: TenantDatabase
) -> None:
    await tenant.sql("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    other = second_key(stack, tenant)
    async with (
        Client(tenant.url) as revoked_client,
        Client(other["url"]) as kept_client,
        revoked_client.notes.stream() as doomed,
        kept_client.notes.stream() as kept,
    ):
        await tenant.sql("INSERT INTO notes (body) VALUES ('before')")
        assert (await asyncio.wait_for(anext(doomed), 20))["created"]["body"] == "before"
        assert (await asyncio.wait_for(anext(kept), 20))["created"]["body"] == "before"

        stack.admin("POST", f"/admin/keys/{tenant.key_id}/revoke")
        revoked_at = time.monotonic()
        await tenant.sql("INSERT INTO notes (body) VALUES ('after')")
        with pytest.raises(StreamError) as closed:
            await asyncio.wait_for(anext(doomed), stack.config.revocation_ttl)
        assert (closed.value.status, closed.value.code) == (401, "P6002")
        assert time.monotonic() - revoked_at < stack.config.revocation_ttl
        assert (await asyncio.wait_for(anext(kept), 20))["created"]["body"] == "after"

    ws_url = stack.edge_url.replace("http://", "ws://") + "/v1/stream?models=notes"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(ws_url, additional_headers={"authorization": f"Bearer {tenant.api_key}"})
    assert refused.value.response.status_code == 401
