"""SECURITY.md's tenant promises hold across a move: the restore runs tenant code with the tenant's
rights only, the read-only key still cannot write, the tenant's own settings come along, and on the
new host the tenant reaches nothing but its own database."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from bwdev.stack import Stack

from .conftest import make_database

pytestmark = pytest.mark.e2e

# A generated column is computed again as rows are restored: this one records who computed it (a
# tenant may declare anything IMMUTABLE), and tries to make its role a superuser on the way.
HOSTILE = """
CREATE FUNCTION public.who(v int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    BEGIN
        EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', session_user);
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN current_user::text || '/' || session_user::text;
END $$;
CREATE TABLE spied (v int PRIMARY KEY, who text GENERATED ALWAYS AS (public.who(v)) STORED);
INSERT INTO spied (v) VALUES (1), (2);
"""


def raw(sql: str) -> dict[str, object]:
    return {
        "action": "executeRaw",
        "query": {"arguments": {"query": sql, "parameters": "[]"}, "selection": {}},
    }


async def test_a_moved_database_keeps_every_tenant_promise(two_hosts: Stack) -> None:
    db = make_database(two_hosts, host="local")
    neighbour = make_database(two_hosts, host="h2")
    owner = f"u_{db.id}"
    conn = await asyncpg.connect(db.dsn)
    try:
        await conn.execute(HOSTILE)
        await conn.execute(f"ALTER DATABASE t_{db.id} SET search_path = public, pg_catalog")
        assert await conn.fetchval("SELECT who FROM spied WHERE v = 1") == f"{owner}/{owner}"
    finally:
        await conn.close()
    reader = two_hosts.admin("POST", "/admin/keys", {"database": db.name, "scope": "read"})["api_key"]

    moved = await asyncio.to_thread(
        two_hosts.admin, "POST", f"/admin/databases/{db.name}/move", {"host": "h2"}
    )
    assert moved["move"]["to"] == "h2"

    dsn = two_hosts.admin("GET", f"/admin/databases/{db.name}")["postgres_dsn"]
    conn = await asyncpg.connect(dsn)
    try:
        # The restore computed the column again, as the tenant's own role; the role is no superuser.
        assert [r["who"] for r in await conn.fetch("SELECT who FROM spied ORDER BY v")] == [
            f"{owner}/{owner}"
        ] * 2
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert await conn.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'spied'") == owner
        assert await conn.fetchval("SHOW search_path") == "public, pg_catalog"  # its own setting came along
        for other in (f"t_{neighbour.id}", "postgres", "template1"):
            with pytest.raises(asyncpg.PostgresError):
                await asyncpg.connect(dsn.rsplit("/", 1)[0] + f"/{other}")
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=two_hosts.edge_url, timeout=60) as edge:
        headers = {"authorization": f"Bearer {reader}"}
        read = await edge.post(
            "/v1/query",
            headers=headers,
            json={
                "modelName": "spied",
                "action": "findMany",
                "query": {"arguments": {}, "selection": {"v": True}},
            },
        )
        assert read.status_code == 200 and read.json()["data"] == [{"v": 1}, {"v": 2}]
        write = await edge.post("/v1/query", headers=headers, json=raw("DELETE FROM spied"))
        assert 400 <= write.status_code < 500 and write.headers.get("prisma-error-code")
    assert len(await neighbour.sql("SELECT 1")) == 1  # the neighbour on h2 is untouched
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM spied") == 2
    finally:
        await conn.close()
