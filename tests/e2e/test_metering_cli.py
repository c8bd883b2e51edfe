"""`breakwater usage`, `plan list|create|update|set`, `limit set|show` and `workspace create|list|show`
against the session's stack, human and --json."""

from __future__ import annotations

import json

import httpx
import pytest

from bwdev.stack import Stack
from tests.conftest import run_cli as cli
from tests.e2e.metering_support import Tenant, flush, read, seed
from tests.e2e.test_metering import database_in

pytestmark = pytest.mark.e2e


def json_of(stack: Stack, *args: str) -> dict:  # type: ignore[type-arg]
    done = cli(stack, *args, "--json")
    assert done.returncode == 0, done.stderr
    found: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    return found


async def test_plans_limits_and_usage_from_the_cli(stack: Stack, edge: httpx.AsyncClient) -> None:
    made = json_of(
        stack, "plan", "create", "team", "--operations", "2_000_000", "--storage-gib", "10",
        "--monthly-price", "29", "--price-per-million", "8", "--limit", "query_timeout_ms=5000",
    )  # fmt: skip
    assert made["operations"] == 2_000_000 and made["storage_bytes"] == 10 * 1024**3
    assert made["price_per_million_operations"] == "8.0000" and made["limits"] == {"query_timeout_ms": 5000}
    listed = cli(stack, "plan", "list").stdout.splitlines()
    assert listed[0].split()[:4] == ["NAME", "OPERATIONS", "STORAGE", "DATABASES"]
    assert any(line.split()[:3] == ["free", "100,000", "1.0"] for line in listed[1:])
    assert any(line.split()[:2] == ["team", "2,000,000"] for line in listed[1:])

    assert json_of(stack, "workspace", "create", "acme")["plan"] == "free"
    moved = json_of(stack, "plan", "set", "acme", "team")
    assert moved["plan"] == "team" and moved["bill"]["total"] == "29.0000"
    limited = json_of(stack, "limit", "set", "acme", "--spend", "50", "--alerts", "50,90")
    assert limited["limits"]["spend"] == "50.0000" and limited["limits"]["alerts"] == [50, 90]
    shown = cli(stack, "limit", "show", "acme").stdout
    assert "spend 50.0000, alerts at 50 %, 90 %" in shown and "plan team" in shown
    db = database_in(stack, "acme", "acme-db")
    assert json_of(stack, "db", "limits", "acme-db")["limits"]["query_timeout_ms"] == 5000  # the plan's

    tenant = Tenant(edge, db)
    await seed(db)
    for _ in range(3):
        await tenant.query(read(), "max-age=60")
    flush(stack)
    one = json_of(stack, "usage", "acme-db")
    assert (one["totals"]["operations"], one["totals"]["cache_hits"], one["workspace"]) == (3, 2, "acme")
    human = cli(stack, "usage", "acme-db").stdout.splitlines()
    assert human[1].split()[:4] == ["DAY", "OPERATIONS", "CACHE", "HITS"]
    assert human[-1].split()[:4] == ["total", "3", "2", "1"]
    every = json_of(stack, "usage", "--workspace", "acme")
    assert [d["database"] for d in every["databases"]] == ["acme-db"]
    assert json_of(stack, "usage", "acme-db", "--month", "2001-01")["totals"]["operations"] == 0
    wrong = cli(stack, "usage", "--month", "2026-1")
    assert wrong.returncode != 0 and "YYYY-MM" in wrong.stderr
    nothing = cli(stack, "limit", "set", "acme")
    assert nothing.returncode != 0 and "Nothing to set" in nothing.stderr
    missing = cli(stack, "plan", "set", "acme", "gold")
    assert missing.returncode != 0 and "no plan named 'gold'" in missing.stderr
