"""Screenshots of the console's main pages for the README, taken by headless Chromium (Debian's, as the
browser tests use it) from a whole stack started here with a little real traffic.

    scripts/console-screenshots [--out docs/console]

Starts the stack in a temporary directory (real Postgres, host agent, origin, edge on the local
runtime), makes a plan, a workspace on it and three databases, sends queries (some answered from
the edge's cache, some reading a large table by a column without an index), leaves a change stream
a few events behind, samples storage, pauses one database, then signs in as the operator and as a
team's read-only key and writes one PNG per page. Run it by hand when the pages change; the tests
take their own screenshots (tests/console/conftest.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "edge")]

from playwright.async_api import Page, async_playwright  # noqa: E402

from breakwater import Client  # noqa: E402
from bwdev.stack import Stack, StackConfig  # noqa: E402
from tests.console.browser import launch  # noqa: E402

WIDE = {"width": 1200, "height": 900}
NARROW = {"width": 390, "height": 844}
FIND_ITEMS = {
    "modelName": "items",
    "action": "findMany",
    "query": {"arguments": {"take": 20}, "selection": {"$scalars": True}},
}


def database(stack: Stack, name: str, workspace: str, placement: str) -> dict[str, Any]:
    body = {"name": name, "workspace": workspace, "placement": placement}
    made: dict[str, Any] = stack.admin("POST", "/admin/databases", body)
    return made


async def traffic(stack: Stack, made: dict[str, Any], writes: int, cached_reads: int) -> None:
    """`writes` creates through the Python client, then `cached_reads` reads with a cache strategy."""
    conn = await asyncpg.connect(made["postgres_dsn"])
    try:
        await conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)")
    finally:
        await conn.close()
    async with Client(made["url"]) as db:
        for n in range(writes):
            await db.items.create(data={"name": f"item {n}"})
    headers = {"authorization": f"Bearer {made['api_key']}", "cache-control": "max-age=600"}
    async with httpx.AsyncClient(base_url=stack.edge_url) as edge:
        for _ in range(cached_reads):
            (await edge.post("/v1/query", json=FIND_ITEMS, headers=headers)).raise_for_status()


async def unindexed_reads(made: dict[str, Any], reads: int) -> None:
    """A table large enough for a sequential scan to matter, read by a column without an index."""
    conn = await asyncpg.connect(made["postgres_dsn"])
    try:
        await conn.execute("CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL)")
        await conn.execute(
            "INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 20000) g"
        )
        await conn.execute("ANALYZE customers")
    finally:
        await conn.close()
    async with Client(made["url"]) as db:
        for n in range(reads):
            await db.customers.find_first(where={"email": f"c{n + 1}@example.com"})


async def stream_behind(made: dict[str, Any], behind: int) -> None:
    """A named stream that has acknowledged all but the last `behind` of the events it was sent."""
    async with Client(made["url"]) as db, db.items.stream(name="search-index") as events:
        for n in range(behind + 3):
            await db.items.create(data={"name": f"streamed {n}"})
        seen = []
        async for event in events:
            seen.append(event)
            if len(seen) == 3:
                await events.ack(event)
            if len(seen) == behind + 3:
                break
        await asyncio.sleep(0.5)  # the coalesced ack leaves before the stream closes


async def sign_in(page: Page, edge: str, secret: str) -> None:
    await page.goto(edge + "/console/login")
    await page.fill("#secret", secret)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign in").click()


async def shoot(stack: Stack, out: Path) -> list[Path]:
    stack.admin(
        "POST",
        "/admin/plans",
        {
            "name": "team",
            "operations": 1_000_000,
            "storage_bytes": 10 * 1024**3,
            "databases": 20,
            "monthly_price": 25,
            "price_per_million_operations": 2,
            "price_per_gib_month": "0.5",
        },
    )
    stack.admin("POST", "/admin/workspaces", {"name": "acme", "plan": "team"})
    shop = database(stack, "shop", "acme", "dedicated")
    analytics = database(stack, "analytics", "acme", "shared")
    scratch = database(stack, "scratch", "default", "shared")
    await traffic(stack, shop, writes=60, cached_reads=140)
    await traffic(stack, analytics, writes=25, cached_reads=10)
    await traffic(stack, scratch, writes=5, cached_reads=0)
    await unindexed_reads(shop, reads=8)
    await stream_behind(shop, behind=4)
    reader = stack.admin("POST", "/admin/keys", {"database": "shop", "scope": "read", "label": "dashboard"})
    stack.admin("POST", "/admin/storage/sample")
    stack.admin("POST", "/admin/usage/flush")
    stack.admin("POST", "/admin/databases/scratch/pause")

    written = []
    async with async_playwright() as playwright:
        browser = await launch(playwright)
        operator = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
        page = await operator.new_page()
        await page.goto(stack.edge_url + "/console/login")
        written.append(await save(page, out, "login"))
        await sign_in(page, stack.edge_url, stack.secrets["admin_token"])
        for path, name in (
            ("/console", "overview"),
            ("/console/databases/shop", "database"),
            ("/console/databases/shop/insights", "insights"),
            ("/console/hosts", "hosts"),
        ):
            await page.goto(stack.edge_url + path)
            written.append(await save(page, out, name))
        await page.set_viewport_size(NARROW)  # type: ignore[arg-type]
        await page.goto(stack.edge_url + "/console/databases/shop")
        written.append(await save(page, out, "database-narrow"))
        team = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
        page = await team.new_page()
        await sign_in(page, stack.edge_url, reader["api_key"])
        written.append(await save(page, out, "database-read-only"))
        await browser.close()
    return written


async def save(page: Page, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bw-shots-") as folder:
        stack = Stack(StackConfig(root=Path(folder) / "stack", durable=False))
        stack.start()
        try:
            for path in asyncio.run(shoot(stack, args.out)):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
