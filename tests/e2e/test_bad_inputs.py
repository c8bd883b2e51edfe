"""Every input that made the stack at 73221c9 answer 500 or 502 (issue 11, item 4), through the edge:
each now gets its 4xx with a stable code, or its answer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import httpx
import pytest
import websockets

from bwdev.stack import Stack
from tests.conftest import CAPTURES, TenantDatabase, create_tenant
from tests.plans.conftest import run_script

pytestmark = pytest.mark.e2e

TABLES = """
CREATE TABLE items (id serial PRIMARY KEY, name text, n int, big bigint, at timestamptz, price numeric);
INSERT INTO items (name, n, big) VALUES ('a', 1, 10), ('b', 2, 20);
"""
_UPLOAD = next(
    json.loads(line)
    for line in (CAPTURES / "prisma6-client.jsonl").read_text().splitlines()
    if json.loads(line)["method"] == "PUT"
)
PRISMA6 = _UPLOAD["path"].removesuffix("/schema")


def find_many(arguments: dict[str, Any], action: str = "findMany") -> dict[str, Any]:
    return {
        "modelName": "items",
        "action": action,
        "query": {"arguments": arguments, "selection": {"$scalars": True}},
    }


def raw(sql: str, parameters: Any) -> dict[str, Any]:
    return {"action": "queryRaw", "query": {"arguments": {"query": sql, "parameters": parameters}}}


def nested(key: str, depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {key: leaf}
    return leaf


def plan_of_depth(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "value", "args": 1}
    for _ in range(depth - 1):
        node = {"type": "let", "args": {"bindings": [], "expr": node}}
    return {"operation": "findMany", "plan": node, "params": {}}


DEEP = b"[" * 100_000 + b"]" * 100_000
CASES: list[tuple[str, str, bytes | dict[str, Any], int, str]] = [
    # (what, path, body, status, code); a dict body is sent as JSON
    ("JSON nested 100,000 deep (/v1)", "/v1/query", DEEP, 400, "BW1301"),
    ("JSON nested 100,000 deep (Prisma 7)", "/query", DEEP, 400, "BW1301"),
    ("JSON nested 100,000 deep (transaction options)", "/transaction/start", DEEP, 400, "BW1301"),
    (
        "NOT nested 1,000 deep",
        "/v1/query",
        find_many({"where": nested("NOT", 1000, {"n": 1})}),
        400,
        "BW1301",
    ),
    ("AND nested 99 deep", "/v1/query", find_many({"where": nested("AND", 99, {"n": 1})}), 400, "P2009"),
    ("AND nested 90 deep runs", "/v1/query", find_many({"where": nested("AND", 90, {"n": 1})}), 200, ""),
    ("distinct: {...}", "/v1/query", find_many({"distinct": {"a": 1}}), 400, "P2009"),
    ("by: [{...}]", "/v1/query", find_many({"by": [{"a": 1}]}, "groupBy"), 400, "P2009"),
    ("take: a string", "/v1/query", find_many({"take": "5"}), 400, "P2009"),
    (
        "a bad date",
        "/v1/query",
        raw("SELECT $1::timestamptz", [{"prisma__type": "date", "prisma__value": "x"}]),
        400,
        "P2009",
    ),
    (
        '"x" as a bigint',
        "/v1/query",
        raw("SELECT $1::int8", [{"prisma__type": "bigint", "prisma__value": "x"}]),
        400,
        "P2009",
    ),
    ("Infinity as a parameter", "/v1/query", raw("SELECT $1::float8", "[Infinity]"), 400, "BW1001"),
    ("1e999 as a parameter", "/v1/query", raw("SELECT $1::float8", "[1e999]"), 400, "BW1001"),
    (
        "a bigint of 5,000 digits",
        "/v1/query",
        raw("SELECT $1::numeric", [{"prisma__type": "bigint", "prisma__value": "9" * 5000}]),
        400,
        "P2009",
    ),
    (
        "a number of 5,000 digits",
        "/v1/query",
        raw("SELECT $1::numeric", "[" + "9" * 5000 + "]"),
        400,
        "BW1001",
    ),
    ("NaN as a /v1 transaction timeout", "/v1/transaction/start", b'{"timeout": NaN}', 400, "BW1001"),
    ("Infinity as a Prisma 7 maxWait", "/transaction/start", b'{"maxWait": Infinity}', 400, "BW1001"),
    ("NaN as a Prisma 6 timeout", f"{PRISMA6}/transaction/start", b'{"timeout": NaN}', 400, "BW1001"),
    ("10^400 as a maxWait", "/v1/transaction/start", b'{"maxWait": 1' + b"0" * 400 + b"}", 400, "BW1001"),
    ("an object as an isolation level", "/v1/transaction/start", {"isolationLevel": {}}, 400, "BW1001"),
    (
        "a lone surrogate in a model name",
        "/v1/query",
        b'{"modelName":"it\\ud800ems","action":"findMany","query":{}}',
        400,
        "BW1001",
    ),
    (
        "an encoded surrogate",
        "/v1/query",
        b'{"modelName":"it\xed\xa0\x80ems","action":"findMany","query":{}}',
        400,
        "BW1001",
    ),
    ("a plan 1,000 nodes deep", "/query", plan_of_depth(1000), 400, "BW1301"),
    ("a plan 101 nodes deep", "/query", plan_of_depth(101), 400, "BW1302"),
    ("a plan 100 nodes deep runs", "/query", plan_of_depth(100), 200, ""),
    ("a batch of 5,001 queries", "/v1/query", {"batch": [find_many({})] * 5001}, 400, "BW1303"),
]


@pytest.fixture(scope="module")
def target(stack: Stack) -> TenantDatabase:
    tenant = create_tenant(stack, "bad")
    asyncio.run(run_script(tenant.dsn, TABLES))
    with httpx.Client(base_url=stack.edge_url, timeout=60) as edge:
        uploaded = edge.put(
            _UPLOAD["path"],
            content=_UPLOAD["req_body"].encode(),
            headers={"authorization": f"Bearer {tenant.api_key}"},
        )
        assert uploaded.status_code == 200, uploaded.text
    return tenant


@pytest.mark.parametrize(("what", "path", "body", "status", "code"), CASES, ids=[c[0] for c in CASES])
async def test_a_bad_input_gets_its_status_and_code(
    edge: httpx.AsyncClient, target: TenantDatabase, what: str, path: str, body: Any, status: int, code: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await edge.post(path, content=content, headers={"authorization": f"Bearer {target.api_key}"})
    assert response.status_code == status, response.text[:300]
    if code:
        assert response.headers["prisma-error-code"] == code
        assert response.json()["code"] == code


async def test_infinite_and_nan_floats_come_back_as_null_on_every_front(
    edge: httpx.AsyncClient, target: TenantDatabase
) -> None:
    """Not JSON numbers: null, as Prisma's own executor sends them (tests/conformance checks it)."""
    sql = "SELECT 'Infinity'::float8 AS a, '-Infinity'::float8 AS b, 'NaN'::float8 AS c"
    auth = {"authorization": f"Bearer {target.api_key}"}
    v1 = await edge.post("/v1/query", json=raw(sql, []), headers=auth)
    assert v1.json()["data"]["rows"] == [[None, None, None]]
    plan = {
        "operation": "queryRaw",
        "plan": {"type": "query", "args": {"type": "rawSql", "sql": sql, "args": [], "argTypes": []}},
        "params": {},
    }
    prisma7 = await edge.post("/query", json=plan, headers=auth)
    assert prisma7.status_code == 200, prisma7.text
    assert prisma7.json()["data"]["rows"] == [[None, None, None]]


@pytest.mark.parametrize("offset", ["FFFFFFFFFFFFFFFF-00000000", "8000000000000000-00000000"])
async def test_a_stream_offset_past_any_log_is_refused(
    stack: Stack, target: TenantDatabase, offset: str
) -> None:
    url = stack.edge_url.replace("http://", "ws://") + f"/v1/stream?models=items&offset={offset}"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url, additional_headers={"authorization": f"Bearer {target.api_key}"})
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["code"] == "BW1002"


SCHEMA = """datasource db {
  provider = "postgresql"
}

model Note {
  id   Int    @id
  body String
  @@map("MAPPED")
}
"""


@pytest.mark.parametrize(
    "source",
    [
        SCHEMA.replace("MAPPED", "\\u0000"),  # an escape that spells NUL
        SCHEMA.replace("MAPPED", "\\ud800"),  # an unpaired surrogate
        SCHEMA.replace("MAPPED", "notes\x00"),  # a NUL character in the text itself
    ],
    ids=["nul-escape", "surrogate-escape", "nul-character"],
)
async def test_a_schema_upload_with_text_postgres_cannot_hold_is_refused(
    edge: httpx.AsyncClient, target: TenantDatabase, source: str
) -> None:
    body = base64.b64encode(source.encode())
    path = f"/6.19.3/{hashlib.sha256(body).hexdigest()}/schema"
    response = await edge.put(path, content=body, headers={"authorization": f"Bearer {target.api_key}"})
    assert (response.status_code, response.json()["code"]) == (400, "BW1101"), response.text


@pytest.mark.parametrize("arguments", [[{"take": 1}], "take", 5])
async def test_a_relations_arguments_that_are_not_an_object_are_a_validation_error(
    edge: httpx.AsyncClient, target: TenantDatabase, arguments: Any
) -> None:
    for relation in ("posts", "_count"):
        nested = {"arguments": arguments, "selection": {"$scalars": True}}
        selection = {"posts": nested} if relation == "posts" else {"_count": {"selection": {"posts": nested}}}
        body = {"modelName": "User", "action": "findMany", "query": {"arguments": {}, "selection": selection}}
        response = await edge.post(
            f"{PRISMA6}/graphql", json=body, headers={"authorization": f"Bearer {target.api_key}"}
        )
        assert response.status_code == 200, response.text  # Prisma 6 errors come back in `errors`
        assert response.headers["prisma-error-code"] == "P2009"
        assert response.json()["errors"][0]["user_facing_error"]["error_code"] == "P2009"


ADMIN_CASES: list[tuple[str, str, str, Any]] = [
    # (what, method, path, body): each is a 400 BW1001 from the origin's one body boundary
    ("a list as a new database", "POST", "/admin/databases", [{"name": "x"}]),
    ("a database name with a space", "POST", "/admin/databases", {"name": "a b"}),
    ("a number as a database name", "POST", "/admin/databases", {"name": 5}),
    ("no database name", "POST", "/admin/databases", {"placement": "shared"}),
    ("a placement of the moon", "POST", "/admin/databases", {"name": "moon", "placement": "moon"}),
    ("a scope nobody knows", "POST", "/admin/keys", {"database": "x", "scope": "root"}),
    ("a number as a key label", "POST", "/admin/keys", {"database": "x", "label": 5}),
    ("NaN as a limit", "PUT", "/admin/databases/{name}/limits", b'{"query_timeout_ms": NaN}'),
    (
        "10^400 as a limit",
        "PUT",
        "/admin/databases/{name}/limits",
        b'{"response_bytes": 1' + b"0" * 400 + b"}",
    ),
    ("a limit as a string", "PUT", "/admin/databases/{name}/limits", {"query_timeout_ms": "5000"}),
    ("a limit nobody knows", "PUT", "/admin/databases/{name}/limits", {"query_timeout": 5000}),
    ("full images as a string", "PUT", "/admin/databases/{name}/tables/items/full-images", {"full": "yes"}),
    ("no body for full images", "PUT", "/admin/databases/{name}/tables/items/full-images", b""),
    ("a host id with a slash", "POST", "/admin/databases", {"name": "h", "host": "../local"}),
    ("a number as a host", "POST", "/admin/databases", {"name": "h", "host": 2}),
    ("a move without a host", "POST", "/admin/databases/{name}/move", {}),
    ("a move to an upper-case host", "POST", "/admin/databases/{name}/move", {"host": "LOCAL"}),
]


@pytest.mark.parametrize(("what", "method", "path", "body"), ADMIN_CASES, ids=[c[0] for c in ADMIN_CASES])
async def test_a_malformed_admin_body_gets_a_400_with_a_code(
    stack: Stack, target: TenantDatabase, what: str, method: str, path: str, body: Any
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(base_url=stack.origin_url, timeout=30) as origin:
        response = await origin.request(
            method,
            path.format(name=target.name),
            content=content,
            headers={"authorization": f"Bearer {stack.secrets['admin_token']}"},
        )
    assert (response.status_code, response.headers["prisma-error-code"]) == (400, "BW1001"), response.text
    assert response.json()["code"] == "BW1001" and response.json()["message"]
