"""The walking skeleton end to end: client → edge (local runtime) → origin → real Postgres."""

from __future__ import annotations

import httpx
import pytest

from bwcontract import b64
from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant

pytestmark = pytest.mark.e2e

FIND_MANY = {
    "modelName": "users",
    "action": "findMany",
    "query": {"arguments": {}, "selection": {"$scalars": True}},
}


async def seed_users(db: TenantDatabase, *emails: str) -> None:
    await db.sql("CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text)")
    for email in emails:
        await db.sql("INSERT INTO users (email, name) VALUES ($1, $2)", email, email.split("@")[0])


async def test_rows_come_back_through_the_edge(edge: httpx.AsyncClient, tenant: TenantDatabase) -> None:
    await seed_users(tenant, "a@x.io", "b@x.io")
    response = await edge.post(f"/v1/query?api_key={tenant.api_key}", json=FIND_MANY)
    assert response.status_code == 200
    assert response.json() == {
        "data": [{"id": 1, "email": "a@x.io", "name": "a"}, {"id": 2, "email": "b@x.io", "name": "b"}]
    }


async def test_find_unique_by_a_unique_column(edge: httpx.AsyncClient, tenant: TenantDatabase) -> None:
    await seed_users(tenant, "a@x.io", "b@x.io")
    body = {
        "modelName": "users",
        "action": "findUnique",
        "query": {"arguments": {"where": {"email": "b@x.io"}}, "selection": {"id": True, "name": True}},
    }
    response = await edge.post("/v1/query", json=body, headers={"authorization": f"Bearer {tenant.api_key}"})
    assert response.json() == {"data": {"id": 2, "name": "b"}}


def tampered(key: str) -> str:
    prefix, payload, signature = key.split(".")
    claims = b64.decode(payload).replace(b'"read-write"', b'"admin"')
    return f"{prefix}.{b64.encode(claims)}.{signature}"


@pytest.mark.parametrize(
    "make_key",
    [
        lambda k: None,
        lambda k: "Basic",
        lambda k: "not-a-key",
        lambda k: k[:-4] + ("AAAA" if not k.endswith("AAAA") else "BBBB"),
        tampered,
    ],
    ids=["missing", "not-bearer", "malformed", "bad-signature", "tampered-claims"],
)
async def test_bad_keys_get_401_p6002(edge: httpx.AsyncClient, tenant: TenantDatabase, make_key) -> None:  # type: ignore[no-untyped-def]
    key = make_key(tenant.api_key)
    headers = {"authorization": key if key == "Basic" else f"Bearer {key}"} if key is not None else {}
    response = await edge.post("/v1/query", json=FIND_MANY, headers=headers)
    assert response.status_code == 401
    assert response.headers["prisma-error-code"] == "P6002"
    assert response.json()["code"] == "P6002"


async def test_a_revoked_key_is_refused_at_once(
    edge: httpx.AsyncClient, stack: Stack, tenant: TenantDatabase
) -> None:
    await seed_users(tenant, "a@x.io")
    extra = stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": "read"})
    key = extra["api_key"]
    assert (await edge.post(f"/v1/query?api_key={key}", json=FIND_MANY)).status_code == 200
    stack.admin("POST", f"/admin/keys/{extra['key']['id']}/revoke")
    response = await edge.post(f"/v1/query?api_key={key}", json=FIND_MANY)
    assert response.status_code == 401 and "revoked" in response.json()["message"]
    # The database's other key is untouched.
    assert (await edge.post(f"/v1/query?api_key={tenant.api_key}", json=FIND_MANY)).status_code == 200


async def test_a_key_for_one_database_never_reads_another(edge: httpx.AsyncClient, stack: Stack) -> None:
    a, b = create_tenant(stack, "iso"), create_tenant(stack, "iso")
    await seed_users(a, "only-a@x.io")
    await seed_users(b, "only-b@x.io")
    rows_a = (await edge.post(f"/v1/query?api_key={a.api_key}", json=FIND_MANY)).json()["data"]
    rows_b = (await edge.post(f"/v1/query?api_key={b.api_key}", json=FIND_MANY)).json()["data"]
    assert [r["email"] for r in rows_a] == ["only-a@x.io"]
    assert [r["email"] for r in rows_b] == ["only-b@x.io"]
    # Naming the other database with A's key is refused, not served.
    response = await edge.post(f"/v1/query?api_key={a.api_key}&database={b.name}", json=FIND_MANY)
    assert response.status_code == 401 and response.json()["code"] == "P6002"


async def test_a_tenant_role_cannot_connect_to_another_tenant(stack: Stack) -> None:
    import asyncpg

    a, b = create_tenant(stack, "role"), create_tenant(stack, "role")
    dsn_to_b_with_a_credentials = a.dsn.rsplit("/", 1)[0] + "/" + b.dsn.rsplit("/", 1)[1]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(dsn_to_b_with_a_credentials)


async def test_the_origin_refuses_requests_that_did_not_come_from_the_edge(
    stack: Stack, tenant: TenantDatabase
) -> None:
    async with httpx.AsyncClient(base_url=stack.origin_url) as origin:
        plain = await origin.post(
            "/v1/query", json=FIND_MANY, headers={"authorization": f"Bearer {tenant.api_key}"}
        )
        forged = await origin.post(
            "/v1/query", json=FIND_MANY, headers={"x-breakwater-service": "v1.1.e30.AAAA"}
        )
    assert plain.status_code == 401 and plain.json()["code"] == "BW2001"
    assert forged.status_code == 401 and forged.json()["code"] == "BW2001"


async def test_a_read_only_key_cannot_write(
    edge: httpx.AsyncClient, stack: Stack, tenant: TenantDatabase
) -> None:
    await seed_users(tenant, "a@x.io")
    read_only = stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": "read"})["api_key"]
    create = {
        "modelName": "users",
        "action": "createOne",
        "query": {"arguments": {"data": {"email": "evil@x.io"}}, "selection": {"$scalars": True}},
    }
    response = await edge.post(f"/v1/query?api_key={read_only}", json=create)
    assert response.status_code == 403 and response.json()["code"] == "BW2003"
    assert [r["email"] for r in await tenant.sql("SELECT email FROM users")] == ["a@x.io"]
    # Reads still work with it.
    assert (await edge.post(f"/v1/query?api_key={read_only}", json=FIND_MANY)).status_code == 200


async def test_a_deleted_database_locks_out_its_keys(edge: httpx.AsyncClient, stack: Stack) -> None:
    doomed = create_tenant(stack, "doomed")
    await seed_users(doomed, "a@x.io")
    stack.admin("DELETE", f"/admin/databases/{doomed.name}")
    response = await edge.post(f"/v1/query?api_key={doomed.api_key}", json=FIND_MANY)
    assert response.status_code == 401


async def test_invalid_queries_are_400_with_a_code_and_send_no_sql(
    edge: httpx.AsyncClient, tenant: TenantDatabase
) -> None:
    await seed_users(tenant, "a@x.io")
    bad = {
        "modelName": "users",
        "action": "findMany",
        "query": {"arguments": {"where": {"nope": 1}}, "selection": {"$scalars": True}},
    }
    response = await edge.post(f"/v1/query?api_key={tenant.api_key}", json=bad)
    assert response.status_code == 400
    assert response.json()["code"] == "P2009" and "nope" in response.json()["message"]
    wrong_type = {
        "modelName": "users",
        "action": "findMany",
        "query": {"arguments": {"where": {"id": "1; DROP TABLE users"}}, "selection": {"$scalars": True}},
    }
    response = await edge.post(f"/v1/query?api_key={tenant.api_key}", json=wrong_type)
    assert response.status_code == 400 and response.json()["code"] == "P2009"
    assert len(await tenant.sql("SELECT * FROM users")) == 1
