"""What the metering tests share: operations over `/v1` that say how many operations, cache hits and
errors they were, and the figures the control plane counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bwdev.stack import CONTROL_DATABASE, Stack
from tests.conftest import TenantDatabase

READ = {
    "modelName": "posts",
    "action": "findMany",
    "query": {"arguments": {"orderBy": [{"id": "asc"}], "take": 3}, "selection": {"id": True, "title": True}},
}


def read(take: int = 3) -> dict[str, Any]:
    return {**READ, "query": {**READ["query"], "arguments": {"orderBy": [{"id": "asc"}], "take": take}}}


def create(title: str) -> dict[str, Any]:
    return {
        "modelName": "posts",
        "action": "createOne",
        "query": {"arguments": {"data": {"title": title}}, "selection": {"id": True}},
    }


def raw(sql: str) -> dict[str, Any]:
    return {"action": "queryRaw", "query": {"arguments": {"query": sql, "parameters": []}}}


async def seed(db: TenantDatabase) -> None:
    await db.sql("CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL)")
    await db.sql("INSERT INTO posts (title) VALUES ('one'), ('two')")


@dataclass
class Expected:
    """What a client was answered, as metering must count it."""

    operations: int = 0
    cache_hits: int = 0
    errors: int = 0
    egress_bytes: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def answered(self, response: httpx.Response, operations: int = 1, failed: bool | None = None) -> None:
        self.operations += operations
        self.egress_bytes += len(response.content)
        status = response.headers.get("accelerate-cache-status", "none")
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status in ("ttl", "swr"):
            self.cache_hits += 1
        if failed if failed is not None else response.status_code >= 400:
            self.errors += operations

    @property
    def database_operations(self) -> int:
        return self.operations - self.cache_hits


class Tenant:
    """A database's client over `/v1` through the edge, keeping what it should be counted for."""

    def __init__(self, edge: httpx.AsyncClient, db: TenantDatabase) -> None:
        self.edge = edge
        self.db = db
        self.expected = Expected()
        self.headers = {"authorization": f"Bearer {db.api_key}"}

    async def query(self, body: dict[str, Any], cache: str | None = None) -> httpx.Response:
        headers = {**self.headers, **({"cache-control": cache} if cache else {})}
        response = await self.edge.post("/v1/query", json=body, headers=headers)
        self.expected.answered(response, len(body.get("batch", [])) or 1)
        return response

    async def transaction(self, bodies: list[dict[str, Any]], end: str = "commit") -> None:
        started = await self.edge.post("/v1/transaction/start", json={"timeout": 10000}, headers=self.headers)
        assert started.status_code == 200, started.text
        tx = started.json()["id"]
        for body in bodies:
            response = await self.edge.post(f"/v1/transaction/{tx}/query", json=body, headers=self.headers)
            assert response.status_code == 200, response.text
            self.expected.answered(response)
        ended = await self.edge.post(f"/v1/transaction/{tx}/{end}", headers=self.headers)
        assert ended.status_code == 200, ended.text

    async def usage(self, month: str | None = None) -> dict[str, Any]:
        params = {"month": month} if month else {}
        response = await self.edge.get("/v1/usage", headers=self.headers, params=params)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def flush(stack: Stack) -> dict[str, Any]:
    """Count what the edge and the origin hold now."""
    return stack.admin("POST", "/admin/usage/flush")


def totals(stack: Stack, database: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.admin("GET", f"/admin/usage?database={database}")["totals"]
    return found


def counted_as(expected: Expected) -> dict[str, Any]:
    return {
        "operations": expected.operations,
        "cache_hits": expected.cache_hits,
        "database_operations": expected.database_operations,
        "errors": expected.errors,
        "egress_bytes": expected.egress_bytes,
    }


FIGURES = ("operations", "cache_hits", "database_operations", "errors", "egress_bytes")


def figures_of(found: dict[str, Any]) -> dict[str, Any]:
    return {name: found[name] for name in FIGURES}


async def control(stack: Stack) -> asyncpg.Connection:
    assert stack.control is not None
    return await asyncpg.connect(stack.control.dsn(CONTROL_DATABASE))
