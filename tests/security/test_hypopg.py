"""hypopg, which query insights use to cost a proposed index, cannot be turned against the platform:
the superuser creates it only in a `bw_hypopg` schema it owns itself, the tenant can neither change
nor drop what is in it, and a tenant that made that schema first gets no hypopg at all."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant

pytestmark = pytest.mark.e2e


async def enable(stack: Stack, db: TenantDatabase) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=stack.hosts_url, timeout=60) as agent:
        response = await agent.post(
            f"/databases/{db.id}/hypopg", headers={"authorization": f"Bearer {stack.secrets['hosts_token']}"}
        )
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


async def refused(db: TenantDatabase, statement: str) -> str:
    conn = await asyncpg.connect(db.dsn)
    try:
        await conn.execute(statement)
    except asyncpg.PostgresError as exc:
        return str(exc.sqlstate)
    finally:
        await conn.close()
    raise AssertionError(f"the tenant could run {statement!r}")


async def test_the_tenant_can_use_hypopg_but_not_change_or_drop_it(
    stack: Stack, tenant: TenantDatabase
) -> None:
    assert await enable(stack, tenant) == {"hypopg": True}
    assert await enable(stack, tenant) == {"hypopg": True}  # idempotent
    owner = await tenant.sql(
        "SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
        "WHERE n.nspname = 'bw_hypopg'"
    )
    assert owner[0]["rolsuper"] is True
    await tenant.sql("CREATE TABLE t (a int)")
    made = await tenant.sql("SELECT count(*) FROM bw_hypopg.hypopg_create_index('CREATE INDEX ON t (a)')")
    assert made[0][0] == 1  # usable: a hypothetical index in this session only
    for statement in (
        "CREATE FUNCTION bw_hypopg.hypopg_reset() RETURNS void LANGUAGE sql AS 'SELECT'",
        "CREATE OR REPLACE FUNCTION bw_hypopg.hypopg_reset() RETURNS void LANGUAGE sql AS 'SELECT'",
        "CREATE TABLE bw_hypopg.mine (a int)",
        "DROP EXTENSION hypopg",
        "ALTER EXTENSION hypopg UPDATE",
        "DROP SCHEMA bw_hypopg CASCADE",
        "ALTER SCHEMA bw_hypopg RENAME TO elsewhere",
        "ALTER FUNCTION bw_hypopg.hypopg_reset() SECURITY DEFINER",
    ):
        assert await refused(tenant, statement) in ("42501", "42P07", "42723"), statement


async def test_a_schema_the_tenant_made_first_gets_no_hypopg(stack: Stack) -> None:
    db = create_tenant(stack, "hypo")
    await db.sql("CREATE SCHEMA bw_hypopg")
    answer = await enable(stack, db)
    assert answer["hypopg"] is False and "did not make" in str(answer["reason"])
    assert await db.sql("SELECT extname FROM pg_extension WHERE extname = 'hypopg'") == []
