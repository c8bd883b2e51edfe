"""The fuzz target: one tenant database of the session's stack with the tables of the recorded
sessions, a read-write and a read-only key, and the recorded Prisma 6 schema uploaded; requests go
through the local edge, as a client's would.

Budget: CI runs a fixed, derandomized set of examples per test (a few tens of seconds in all). A
deeper run draws new examples every time:

    BREAKWATER_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/fuzz -x

(Hypothesis keeps failing examples in .hypothesis/ and replays them first on the next run.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, settings

from bwdev.stack import Stack
from tests.conftest import CAPTURES, PROJECT_ROOT, TenantDatabase, create_tenant

DEEP_EXAMPLES = int(os.environ.get("BREAKWATER_FUZZ_EXAMPLES", "0"))
TABLES = PROJECT_ROOT / "tests" / "plans" / "captures.sql"
PRISMA6_VERSION = "6.19.3"


def fuzz_settings(ci_examples: int) -> settings:
    """`ci_examples` fixed examples in CI; BREAKWATER_FUZZ_EXAMPLES fresh ones in a deep run."""
    if DEEP_EXAMPLES:
        return settings(
            max_examples=DEEP_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
    return settings(
        max_examples=ci_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def records(name: str) -> list[dict[str, Any]]:
    path = CAPTURES / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


PRISMA6 = records("prisma6-client.jsonl")
PRISMA7 = records("prisma7-client.jsonl") + records("prisma7-value-types.jsonl")
_SCHEMA_UPLOAD = next(r for r in PRISMA6 if r["method"] == "PUT")
PRISMA6_HASH = _SCHEMA_UPLOAD["path"].split("/")[2]


@dataclass(frozen=True)
class FuzzTarget:
    edge: httpx.Client
    tenant: TenantDatabase
    read_write: str
    read_only: str

    def headers(self, key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}", "content-type": "application/json", **(extra or {})}


def check(response: httpx.Response, request: str, body: bytes | str = b"") -> None:
    """The one property: whatever was sent, the answer is not a server error."""
    shown = body[:600] if isinstance(body, bytes | str) else body
    assert response.status_code < 500, (
        f"{request} answered {response.status_code}: {response.text[:400]}\nsent: {shown!r}"
    )


async def _run_script(dsn: str, script: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def target(stack: Stack) -> Iterator[FuzzTarget]:
    tenant = create_tenant(stack, "fuzz")
    asyncio.run(_run_script(tenant.dsn, TABLES.read_text()))
    read_only = stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": "read"})["api_key"]
    with httpx.Client(base_url=stack.edge_url, timeout=60) as edge:
        found = FuzzTarget(edge, tenant, tenant.api_key, read_only)
        upload = edge.put(
            _SCHEMA_UPLOAD["path"],
            content=_SCHEMA_UPLOAD["req_body"].encode(),
            headers=found.headers(tenant.api_key),
        )
        assert upload.status_code == 200, upload.text
        yield found
        # The stack still serves this tenant normally after everything the fuzz sent.
        alive = edge.post(
            "/v1/query",
            json={"modelName": "User", "action": "findMany", "query": {"arguments": {"take": 1}}},
            headers=found.headers(tenant.api_key),
        )
        assert alive.status_code == 200, alive.text


def schema_upload(text: str) -> tuple[str, bytes]:
    """A Prisma 6 schema upload: the path (its hash is sha256 of the base64 text) and the body."""
    body = base64.b64encode(text.encode("utf-8", "surrogatepass"))
    return f"/{PRISMA6_VERSION}/{hashlib.sha256(body).hexdigest()}/schema", body


SCHEMAS = [
    p.read_text() for p in sorted((PROJECT_ROOT / "tests" / "protocol" / "schemas").glob("*.prisma"))
] + [(PROJECT_ROOT / "tests" / "prisma6" / "schema.prisma").read_text()]


def request_headers(record: dict[str, Any]) -> dict[str, str]:
    """What a recorded client sent besides its key, the host and the length."""
    dropped = {"host", "content-length", "authorization", "connection", "accept-encoding"}
    return {k: v for k, v in record["req_headers"].items() if k.lower() not in dropped}
