"""The console in a real browser, through the edge's URL: figures from real traffic made in the same
test, keys made and revoked, a paused database waking while the page watches, a team held to its
database, a read-only key that cannot act, pages read without JavaScript and on a narrow screen.
Every page is screenshotted (tests/console/conftest.py says where) and audited (browser.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from breakwater import Client
from bwdev.stack import Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.console.browser import audit, shot

pytestmark = pytest.mark.e2e

WIDE = {"width": 1200, "height": 900}
NARROW = {"width": 390, "height": 844}
LIVE_WAIT_MS = 20_000  # pages refresh their figures every 5 s


FIND_ITEMS = {
    "modelName": "items",
    "action": "findMany",
    "query": {"arguments": {}, "selection": {"$scalars": True}},
}


def dedicated_tenant(stack: Stack, name: str, workspace: str) -> TenantDatabase:
    return create_tenant(stack, name=name, placement="dedicated", workspace=workspace)


async def sign_in_by_keyboard(page: Page, edge: str, secret: str) -> None:
    """From the console's address to a signed-in page, with the keyboard alone."""
    await page.goto(edge + "/console")
    assert page.url.endswith("/console/login")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(5):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "secret":
            break
    assert await page.evaluate("document.activeElement.id") == "secret"
    await page.keyboard.type(secret)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def checked(page: Page, shots: Path, name: str) -> None:
    """Screenshot the page and audit it: nothing may be wrong."""
    await shot(page, shots, name)
    assert await audit(page) == [], name


async def cached_reads(stack: Stack, key: str, count: int) -> list[str]:
    """`count` reads with a cache strategy through the edge: a miss, then answers from its cache."""
    headers = {"authorization": f"Bearer {key}", "cache-control": "max-age=60"}
    async with httpx.AsyncClient(base_url=stack.edge_url) as edge:
        answers = [await edge.post("/v1/query", json=FIND_ITEMS, headers=headers) for _ in range(count)]
    return [a.headers.get("accelerate-cache-status", "") for a in answers]


def figure(text: str) -> int:
    return int(text.replace(",", ""))


async def edge_status(stack: Stack, key: str) -> tuple[int, str | None]:
    async with httpx.AsyncClient(base_url=stack.edge_url) as edge:
        answer = await edge.get("/v1/schema", headers={"authorization": f"Bearer {key}"})
    return answer.status_code, answer.headers.get("prisma-error-code")


async def test_the_operator_sees_real_traffic_makes_and_revokes_a_key_and_watches_a_database_wake(
    stack: Stack, browser: Browser, shots: Path
) -> None:
    # A workspace of its own on a plan of its own, so its month's figures are this test's traffic alone.
    stack.admin("POST", "/admin/plans", {"name": "console-team", "operations": 1000, "monthly_price": 5})
    stack.admin("POST", "/admin/workspaces", {"name": "console-ws", "plan": "console-team"})
    tenant = dedicated_tenant(stack, "console-shop", "console-ws")
    await tenant.sql("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL)")
    context = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
    page = await context.new_page()
    async with Client(tenant.url) as db:
        for n in range(5):
            await db.items.create(data={"name": f"item {n}"})
        async with db.items.stream(name="console-watch") as events:
            for n in range(3):
                await db.items.create(data={"name": f"streamed {n}"})
            received: list[dict[str, Any]] = []
            async for event in events:
                received.append(event)
                if len(received) == 3:
                    break
            assert await cached_reads(stack, tenant.api_key, 3) == ["miss", "ttl", "ttl"]
            stack.admin("POST", "/admin/usage/flush")  # count now what the edge and the origin hold

            await sign_in_by_keyboard(page, stack.edge_url, stack.secrets["admin_token"])
            assert page.url.endswith("/console")
            row = page.locator(f'tr[data-database="{tenant.name}"]')
            await expect(row).to_contain_text("dedicated")
            await expect(row.locator(".state")).to_have_text("running")
            # Eight creates and a cache miss reached the database, two reads were cache hits.
            workspace = page.locator('tr[data-workspace="console-ws"]')
            await expect(workspace.locator('[data-figure="operations"]')).to_have_text("11")
            await expect(workspace.locator('[data-figure="bill"]')).to_have_text("5.00")
            await expect(page.locator("#usage-console-ws")).to_contain_text("11 of 1,000 operations")
            await expect(page.locator('tr[data-plan="console-team"]')).to_contain_text("1,000")
            await checked(page, shots, "overview")

            await row.get_by_role("link", name=tenant.name).click()
            await expect(page.locator("h1")).to_have_text(tenant.name)
            served = figure(await page.locator('[data-figure="acquired"]').inner_text())
            assert served >= 9  # eight creates and a cache miss, each a connection from the pool
            usage = page.locator("#usage")
            await expect(usage.locator('[data-figure="operations"]')).to_have_text("11")
            await expect(usage.locator('[data-figure="cache-hits"]')).to_have_text("2")
            await expect(usage.locator('[data-figure="hit-ratio"]')).to_have_text("18 %")
            assert await usage.locator("svg.columns").count() == 4
            p50 = float((await page.locator('[data-figure="p50"]').inner_text()).removesuffix(" ms"))
            p99 = float((await page.locator('[data-figure="p99"]').inner_text()).removesuffix(" ms"))
            assert 0 < p50 <= p99
            stream_row = page.locator('tr[data-stream="console-watch"]')
            await expect(stream_row.locator('[data-figure="behind"]')).to_have_text("3")
            await expect(stream_row).to_contain_text("connected")
            await checked(page, shots, "database")
            await page.evaluate("window.notReloaded = true")
            await events.ack(received[-1])
            # The page refreshes its figures by itself: the stream caught up, no reload.
            await expect(stream_row.locator('[data-figure="behind"]')).to_have_text("0", timeout=LIVE_WAIT_MS)
            assert await page.evaluate("window.notReloaded === true")

        # A key made here works at once and is shown once; revoked here, it stops working.
        await page.select_option("#new-scope", "read")
        await page.fill("#new-label", "reports")
        await page.get_by_role("button", name="Create key").click()
        key = await page.locator("#secret-value").input_value()
        assert key.startswith("bw1.") and await page.locator('button[data-copy="secret-value"]').is_visible()
        assert await page.locator("#url-value").input_value() == stack.connection_url(key)
        assert await edge_status(stack, key) == (200, None)
        await shot(page, shots, "new-key")
        await page.get_by_role("link", name=f"Back to {tenant.name}").click()
        assert key not in await page.content()
        key_id = json.loads(
            await page.evaluate(
                "JSON.stringify([...document.querySelectorAll('[data-key]')].map(r => r.dataset.key))"
            )
        )[-1]
        await page.get_by_role("button", name=f"Revoke key {key_id}").click()
        await expect(page.locator(".notice")).to_contain_text("The key is revoked")
        await expect(page.locator(f'tr[data-key="{key_id}"]')).to_contain_text("revoked")
        assert await edge_status(stack, key) == (401, "P6002")

        # Paused from the console, woken by a query: the page sees it happen without a reload.
        await page.get_by_role("button", name="Pause").click()
        state = page.locator("[data-state]")
        await expect(state).to_have_text("paused")
        await page.evaluate("window.notReloaded = true")
        assert await db.items.count() == 8
        await expect(state).to_have_text("running", timeout=LIVE_WAIT_MS)
        assert await page.evaluate("window.notReloaded === true")
    instance = stack.admin("GET", f"/admin/databases/{tenant.name}")["instance"]
    assert instance["pauses"] >= 1 and instance["resumes"] >= 1

    await page.get_by_role("link", name="Hosts & pool").click()
    await expect(page.locator(f'tr[data-instance="{instance["name"]}"]')).to_contain_text("running")
    await checked(page, shots, "hosts")

    await page.set_viewport_size(NARROW)  # type: ignore[arg-type]
    for path, name in (
        ("/console", "overview-narrow"),
        (f"/console/databases/{tenant.name}", "database-narrow"),
    ):
        await page.goto(stack.edge_url + path)
        await checked(page, shots, name)

    await page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/console/login")
    await checked(page, shots, "login")
    await context.close()


async def test_a_team_sees_its_own_database_only_and_a_read_only_key_cannot_act(
    stack: Stack, browser: Browser, shots: Path
) -> None:
    mine, theirs = create_tenant(stack, "team"), create_tenant(stack, "team")
    read = stack.admin("POST", "/admin/keys", {"database": mine.name, "scope": "read", "label": "dashboard"})
    await mine.sql("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    async with Client(mine.url) as db:
        for n in range(3):
            await db.notes.create(data={"body": f"note {n}"})
    # A table large enough for a sequential scan to matter, read by a column without an index.
    await mine.sql("CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL)")
    await mine.sql("INSERT INTO people SELECT g, 'p' || g || '@example.com' FROM generate_series(1, 12000) g")
    await mine.sql("ANALYZE people")
    async with Client(mine.url) as db:
        for n in range(5):
            assert await db.people.find_first(where={"email": f"p{n + 1}@example.com"}) is not None
    keys_before = len(stack.admin("GET", f"/admin/keys?database={mine.name}")["keys"])

    context = await browser.new_context(viewport=NARROW)  # type: ignore[arg-type]
    page = await context.new_page()
    await sign_in_by_keyboard(page, stack.edge_url, read["api_key"])
    own = f"/console/databases/{mine.name}"
    assert page.url.endswith(own)
    await expect(page.locator(".meta")).to_contain_text("read-only view")
    assert int(await page.locator('[data-figure="acquired"]').inner_text()) >= 3
    assert await page.locator("main form").count() == 0  # nothing to act with
    assert await page.locator("main button").count() == 0
    html = await page.content()
    assert read["api_key"] not in html and mine.dsn.split("@")[0] not in html and theirs.id not in html
    await checked(page, shots, "database-team")

    # The recommendation, with its evidence, is there for a read-only key to read.
    await page.get_by_role("link", name="see the query insights of the last day").click()
    advice = page.locator('li[data-rule="unindexed_filter"]')
    await expect(advice.locator("pre.fix")).to_contain_text('ON "public"."people" ("email")')
    await expect(advice.locator(".evidence")).to_contain_text("plan.table_rows")
    shape = page.locator("#shapes tr", has_text="people.findFirst")
    await expect(shape.locator('[data-figure="calls"]')).to_have_text("5")
    assert await page.locator("main form").count() == 0
    await checked(page, shots, "insights-team")

    other = await page.goto(f"{stack.edge_url}/console/databases/{theirs.name}")
    assert other is not None and other.status == 404 and "BW1404" in await page.content()
    assert theirs.id not in await page.content()
    other = await page.goto(f"{stack.edge_url}/console/databases/{theirs.name}/insights")
    assert other is not None and other.status == 404 and theirs.id not in await page.content()
    hosts = await page.goto(f"{stack.edge_url}/console/hosts")
    assert hosts is not None and hosts.status == 403
    await page.goto(stack.edge_url + "/console")
    assert page.url.endswith(own)  # a team's console is its database

    # Forms it is not shown are refused when sent anyway, even with its own CSRF token.
    refused = await page.evaluate(
        """async (own) => {
          const csrf = document.querySelector('form[action="/console/logout"] [name=csrf]').value;
          const answers = [];
          for (const [path, body] of [["/keys", "scope=admin"], ["/wake", ""], ["/dsn", ""]]) {
            const r = await fetch(own + path, {method: "POST",
              body: "csrf=" + csrf + (body ? "&" + body : ""),
              headers: {"content-type": "application/x-www-form-urlencoded"}});
            answers.push([r.status, r.headers.get("prisma-error-code")]);
          }
          return answers;
        }""",
        own,
    )
    assert refused == [[403, "BW2003"]] * 3
    assert len(stack.admin("GET", f"/admin/keys?database={mine.name}")["keys"]) == keys_before

    stack.admin("POST", f"/admin/keys/{read['key']['id']}/revoke")
    await page.reload()
    assert page.url.endswith("/console/login")  # revoking the key ended the session
    await context.close()


async def test_pages_read_and_forms_work_without_javascript(
    stack: Stack, browser: Browser, shots: Path
) -> None:
    tenant = create_tenant(stack, "nojs")
    context = await browser.new_context(viewport=WIDE, java_script_enabled=False)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(stack.edge_url + "/console/login")
    await page.fill("#secret", stack.secrets["admin_token"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(f'tr[data-database="{tenant.name}"]')).to_be_visible()
    await page.goto(f"{stack.edge_url}/console/databases/{tenant.name}")
    await expect(page.locator("[data-state]")).to_have_text("running")
    await page.get_by_role("button", name="Show the Postgres DSN").click()
    assert await page.locator("#secret-value").input_value() == tenant.dsn
    assert not await page.locator(
        'button[data-copy="secret-value"]'
    ).is_visible()  # no script, no copy button
    await checked(page, shots, "dsn-without-javascript")
    await context.close()


async def test_the_audit_finds_what_it_looks_for(browser: Browser) -> None:
    """A positive control: a page with every fault the audit looks for, then the same page fixed."""
    page = await browser.new_page(viewport=NARROW)  # type: ignore[arg-type]
    await page.set_content(
        '<html><body><p style="color:#bbb">faint</p><input id="a"><button></button><svg></svg>'
        '<div style="width:900px">wide</div></body></html>'
    )
    assert await audit(page) == [
        "the page has no lang",
        "the page needs one h1",
        "the page has no main landmark",
        'no accessible name: <input id="a">',
        "no accessible name: <button></button>",
        "a chart without role=img and a name",
        'contrast 1.92 < 4.5: P "faint"',
        "the page scrolls sideways: 908 > 390",
    ]
    await page.set_content(
        '<html lang="en"><body><main><h1>x</h1><p>fine</p><label for="a">A</label><input id="a">'
        '<button>ok</button><svg role="img" aria-label="c"><title>c</title></svg></main></body></html>'
    )
    assert await audit(page) == []
    await page.close()
