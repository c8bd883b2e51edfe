"""The recorded Prisma 6.19.3 session (tests/protocol/captures/prisma6-client.jsonl) replayed against
our edge: every response must be what the client accepted then (same status and body, modulo the
values that cannot repeat: transaction ids, `now()`)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import CAPTURES as CAPTURES_DIR
from tests.conftest import TenantDatabase, create_tenant
from tests.prisma6.conftest import run_script

pytestmark = pytest.mark.e2e

CAPTURES = CAPTURES_DIR / "prisma6-client.jsonl"

BLOG = """
CREATE TABLE "User" (id SERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);
CREATE TABLE "Post" (id SERIAL PRIMARY KEY, title TEXT NOT NULL, published BOOLEAN NOT NULL DEFAULT false,
                     "authorId" INTEGER NOT NULL REFERENCES "User" (id));
"""
# A moment of `now()`: the capture has the Rust engine's milliseconds; Breakwater sends what Prisma's
# driver-adapter executor sends (microseconds, origin/rawcodec/results.py), which the client reads the same.
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00")


def exchanges() -> list[dict[str, Any]]:
    found = []
    for line in CAPTURES.read_text().splitlines():
        entry = json.loads(line)
        if entry["path"].startswith("/__mark") or entry["path"] == "/invalidate":
            continue  # labels, and the cache issue's route
        found.append(entry)
    return found


def normalize(body: Any, tx_ids: dict[str, str]) -> Any:
    text = json.dumps(body)
    for theirs, ours in tx_ids.items():
        text = text.replace(ours, theirs)
    text = _TS.sub("<now>", text)
    value = json.loads(text)
    # prisma-accelerate-local wrapped results twice ({"data":{"data":…}}); the client unwraps one level.
    if isinstance(value, dict) and isinstance(value.get("data"), dict) and set(value["data"]) == {"data"}:
        value = value["data"]
    return value


@pytest.fixture
async def blog(stack: Stack) -> TenantDatabase:
    db = create_tenant(stack, "captures")
    await run_script(db.dsn, BLOG)
    return db


async def test_the_recorded_prisma6_session_gets_the_answers_the_client_accepted(
    stack: Stack, blog: TenantDatabase
) -> None:
    tx_ids: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=30) as edge:
        for entry in exchanges():
            path = entry["path"]
            for theirs, ours in tx_ids.items():
                path = path.replace(theirs, ours)
            headers = {
                k: v for k, v in entry["req_headers"].items() if k.lower() not in ("host", "content-length")
            }
            headers["Authorization"] = f"Bearer {blog.api_key}"
            body = entry["req_body"]
            content = (
                b""
                if body is None
                else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            )
            response = await edge.request(entry["method"], path, content=content, headers=headers)
            assert response.status_code == entry["status"], (path, response.text)
            if entry["resp_body"] is None:
                continue
            answer = response.json()
            if path.endswith("/transaction/start"):
                tx_ids[entry["resp_body"]["id"]] = answer["id"]
                prefix = str(edge.base_url).rstrip("/")
                assert (
                    answer["data-proxy"]["endpoint"]
                    == f"{prefix}{path.rsplit('/transaction/start', 1)[0]}/itx/{answer['id']}"
                )
                continue
            expected = normalize(entry["resp_body"], {})
            got = normalize(answer, tx_ids)
            if "batchResult" in expected:
                expected["extensions"] = got.get("extensions")
            assert got == expected, (path, body)
