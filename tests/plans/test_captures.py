"""The recorded Prisma 7 captures are test vectors: every recorded request, replayed through our edge
on a fresh database, gets a response the client accepts, i.e. one that contains the recorded response
(transaction ids and the clock aside). `/invalidate` belongs to the edge cache (test_cache_prisma7.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import CAPTURES
from tests.plans.conftest import tenant_with_tables

pytestmark = pytest.mark.e2e


SCRIPT = Path(__file__).with_name("captures.sql")
_DROPPED_HEADERS = {"host", "content-length", "connection", "authorization", "accept-encoding"}
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def load(name: str) -> list[dict[str, Any]]:
    path = CAPTURES / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the recorded captures live in tests/protocol/captures")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def contained(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where `actual` does not contain `expected` (objects may have more keys, all else is equal)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual)[:80]}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += contained(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {json.dumps(expected)[:80]}, got {json.dumps(actual)[:80]}"]
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in contained(e, a, f"{where}[{i}]")
        ]
    if expected != actual:
        return [f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]
    return []


def _mask_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_clock(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_clock(v) for v in value]
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return "<timestamp>"
    return value


async def replay(edge: httpx.AsyncClient, api_key: str, records: list[dict[str, Any]]) -> list[str]:
    tx_ids: dict[str, str] = {}
    problems: list[str] = []
    for number, record in enumerate(records):
        path: str = record["path"]
        if path.startswith("/__mark") or path == "/invalidate":
            continue
        for recorded_id, our_id in tx_ids.items():
            path = path.replace(recorded_id, our_id)
        headers = {k: v for k, v in record["req_headers"].items() if k.lower() not in _DROPPED_HEADERS}
        headers["authorization"] = f"Bearer {api_key}"
        body = json.dumps(record["req_body"]).encode() if record["req_body"] is not None else b""
        response = await edge.request(record["method"], path, content=body, headers=headers)
        label = f"#{number} {record['method']} {record['path']}"
        if response.status_code != record["status"]:
            problems.append(
                f"{label}: status {response.status_code}, recorded {record['status']}: {response.text}"
            )
            continue
        assert response.headers["content-type"].startswith("application/json"), label
        ours = response.json()
        expected = {k: v for k, v in record["resp_body"].items() if k != "extensions"}
        assert isinstance(ours.get("extensions", {}).get("logs"), list), label
        if path == "/transaction/start":
            tx_ids[expected.pop("id")] = ours["id"]
        if (record["req_body"] or {}).get("operation") == "queryRaw":
            expected, ours = _mask_clock(expected), _mask_clock(ours)
        problems += [f"{label}: {p}" for p in contained(expected, ours)]
    return problems


@pytest.mark.parametrize("capture", ["prisma7-client.jsonl", "prisma7-value-types.jsonl"])
async def test_recorded_requests_get_the_recorded_responses(
    stack: Stack, edge: httpx.AsyncClient, capture: str
) -> None:
    tenant = await tenant_with_tables(stack, "cap", SCRIPT)
    problems = await replay(edge, tenant.api_key, load(capture))
    assert problems == []


def test_every_recorded_route_is_one_we_replay_or_the_cache_serves() -> None:
    records = load("prisma7-client.jsonl") + load("prisma7-value-types.jsonl")
    routes = {r["path"].split("/")[1] for r in records if not r["path"].startswith("/__mark")}
    assert routes == {"connection-info", "query", "transaction", "invalidate"}
