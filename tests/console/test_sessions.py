"""Console sessions and forms over HTTP, through the edge: what a browser holds, what ends a
session, and what every form must carry. (The pages themselves: test_browser.py.)"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from bwdev.stack import CONTROL_DATABASE, Stack
from tests.conftest import TenantDatabase, create_tenant
from tests.console.client import ConsoleClient

pytestmark = pytest.mark.e2e


def admin_token(stack: Stack) -> str:
    return stack.secrets["admin_token"]


def new_key(stack: Stack, tenant: TenantDatabase, scope: str) -> tuple[str, str]:
    made = stack.admin("POST", "/admin/keys", {"database": tenant.name, "scope": scope})
    return made["api_key"], made["key"]["id"]


async def control_sql(stack: Stack, statement: str) -> None:
    assert stack.control is not None
    conn = await asyncpg.connect(stack.control.dsn(CONTROL_DATABASE))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert (response.status_code, response.headers.get("prisma-error-code")) == (status, code), response.text
    assert code in response.text  # the page says it too


async def test_signing_in_gives_an_httponly_strict_cookie_and_the_secret_never_comes_back(
    stack: Stack,
) -> None:
    tenant = create_tenant(stack, "cons")
    async with ConsoleClient(stack) as operator:
        signed_in = await operator.sign_in(admin_token(stack))
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/console")
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("bw_console=") and admin_token(stack) not in cookie
        assert {"HttpOnly", "SameSite=Strict", "Path=/console"} <= {p.strip() for p in cookie.split(";")}
        for path in ("/console", "/console/hosts", f"/console/databases/{tenant.name}"):
            page = await operator.http.get(path)
            assert page.status_code == 200, path
            assert page.headers["cache-control"] == "no-store"
            assert "script-src 'self'" in page.headers["content-security-policy"]
            password = tenant.dsn.split(":")[2].split("@")[0]
            assert admin_token(stack) not in page.text and password not in page.text
    async with ConsoleClient(stack) as team:
        signed_in = await team.sign_in(tenant.api_key)
        assert signed_in.headers["location"] == f"/console/databases/{tenant.name}"
        page = await team.http.get(signed_in.headers["location"])
        assert page.status_code == 200 and tenant.api_key not in page.text and tenant.key_id in page.text


async def test_a_wrong_secret_is_answered_on_the_sign_in_page(stack: Stack) -> None:
    async with ConsoleClient(stack) as browser:
        for secret in ("not a token", "bw1.e30.AAAA", admin_token(stack) + "x"):
            refused = await browser.sign_in(secret)
            assert_refused(refused, 401, "BW2020")
            assert "neither the admin token nor an API key" in refused.text
            assert 'name="secret"' in refused.text and "bw_console=" not in refused.headers.get(
                "set-cookie", ""
            )


async def test_the_sign_in_form_needs_its_token_and_to_come_from_the_console(stack: Stack) -> None:
    async with ConsoleClient(stack) as browser:
        no_token = await browser.http.post("/console/login", data={"secret": admin_token(stack)})
        assert_refused(no_token, 403, "BW2021")
        page = await browser.http.get("/console/login")
        token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
        data = {"login_csrf": token, "secret": admin_token(stack)}
        for headers in ({"origin": "http://evil.test"}, {"sec-fetch-site": "cross-site"}):
            assert_refused(
                await browser.http.post("/console/login", data=data, headers=headers), 403, "BW2021"
            )
        assert (await browser.http.post("/console/login", data=data)).status_code == 303


async def test_forms_need_this_sessions_csrf_token(stack: Stack) -> None:
    tenant = create_tenant(stack, "cons")
    path = f"/console/databases/{tenant.name}/keys"
    async with ConsoleClient(stack) as mine, ConsoleClient(stack) as other:
        await mine.sign_in(admin_token(stack))
        await other.sign_in(admin_token(stack))
        assert_refused(await mine.post(path, None, scope="read"), 403, "BW2021")
        assert_refused(await mine.post(path, await other.csrf(), scope="read"), 403, "BW2021")
        assert_refused(
            await mine.http.post(
                path,
                data={"csrf": await mine.csrf(), "scope": "read"},
                headers={"origin": "http://evil.test"},
            ),
            403,
            "BW2021",
        )
        made = await mine.post(path, await mine.csrf(), scope="read", label="reports")
        assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
        key = made.text.split('id="secret-value" readonly value="')[1].split('"')[0]
        async with httpx.AsyncClient(base_url=stack.edge_url) as edge:
            answer = await edge.get("/v1/schema", headers={"authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        assert key not in (await mine.http.get(f"/console/databases/{tenant.name}")).text  # shown once


async def test_bad_form_fields_are_400s_with_a_code(stack: Stack) -> None:
    tenant = create_tenant(stack, "cons")
    async with ConsoleClient(stack) as operator:
        await operator.sign_in(admin_token(stack))
        csrf = await operator.csrf()
        keys_path = f"/console/databases/{tenant.name}/keys"
        assert_refused(await operator.post(keys_path, csrf, scope="root"), 400, "BW1001")
        assert_refused(await operator.post(keys_path, csrf, scope="read", extra="1"), 400, "BW1001")
        as_json = await operator.http.post(
            keys_path, json={"csrf": csrf, "scope": "read"}, headers={"origin": operator.origin_header}
        )
        assert_refused(as_json, 400, "BW1001")
        limits_path = f"/console/databases/{tenant.name}/limits"
        assert_refused(await operator.post(limits_path, csrf, query_timeout_ms="soon"), 400, "BW1001")
        assert_refused(await operator.post(limits_path, csrf, query_timeout_ms="5"), 400, "BW1001")
        saved = await operator.post(limits_path, csrf, query_timeout_ms="30_000", response_bytes="")
        assert saved.status_code == 303
        limits = stack.admin("GET", f"/admin/databases/{tenant.name}/limits")
        assert limits["overrides"] == {"query_timeout_ms": 30000}


async def test_revoking_the_key_ends_its_console_session(stack: Stack) -> None:
    tenant = create_tenant(stack, "cons")
    key, key_id = new_key(stack, tenant, "read-write")
    async with ConsoleClient(stack) as team:
        await team.sign_in(key)
        page = f"/console/databases/{tenant.name}"
        csrf = await team.csrf(page)
        stack.admin("POST", f"/admin/keys/{key_id}/revoke")
        ended = await team.http.get(page)
        assert (ended.status_code, ended.headers["location"]) == (303, "/console/login")
        assert_refused(await team.post(f"{page}/wake", csrf), 401, "BW2020")
        assert_refused(await team.sign_in(key), 401, "BW2020")


async def test_sessions_end_when_signed_out_expired_idle_or_the_admin_token_changed(stack: Stack) -> None:
    endings = [
        None,  # signing out
        "UPDATE console_sessions SET expires_at = now() - interval '1 second'",
        "UPDATE console_sessions SET seen_at = now() - interval '2 hours'",
        "UPDATE console_sessions SET admin_digest = sha256('an earlier admin token')",
    ]
    for ending in endings:
        async with ConsoleClient(stack) as operator:
            await operator.sign_in(admin_token(stack))
            assert (await operator.http.get("/console")).status_code == 200
            if ending is None:
                signed_out = await operator.post("/console/logout", await operator.csrf())
                assert signed_out.headers["location"] == "/console/login"
                assert "Max-Age=0" in signed_out.headers["set-cookie"]
            else:
                await control_sql(stack, ending)
            assert (await operator.http.get("/console")).headers.get("location") == "/console/login"


async def test_a_read_only_key_cannot_act_and_a_team_never_reaches_another_database(stack: Stack) -> None:
    mine, theirs = create_tenant(stack, "cons"), create_tenant(stack, "cons")
    read_key, _ = new_key(stack, mine, "read")
    before = len(stack.admin("GET", f"/admin/keys?database={mine.name}")["keys"])
    async with ConsoleClient(stack) as team:
        await team.sign_in(read_key)
        page = f"/console/databases/{mine.name}"
        html = (await team.http.get(page)).text
        assert "read-only view" in html and "Create key" not in html and "Revoke" not in html
        csrf = await team.csrf(page)
        for action, fields in (("keys", {"scope": "admin"}), ("wake", {}), ("dsn", {}), ("pause", {})):
            assert_refused(await team.post(f"{page}/{action}", csrf, **fields), 403, "BW2003")
        assert_refused(await team.post(f"{page}/keys/{mine.key_id}/revoke", csrf), 403, "BW2003")
        assert_refused(await team.http.get(f"/console/databases/{theirs.name}"), 404, "BW1404")
        assert_refused(
            await team.post(f"/console/databases/{theirs.name}/keys", csrf, scope="read"), 404, "BW1404"
        )
        assert_refused(await team.http.get("/console/hosts"), 403, "BW2003")
        assert (await team.http.get("/console")).headers["location"] == page
    assert len(stack.admin("GET", f"/admin/keys?database={mine.name}")["keys"]) == before


async def test_what_read_write_and_admin_keys_may_do(stack: Stack) -> None:
    tenant = create_tenant(stack, "cons")
    page = f"/console/databases/{tenant.name}"
    async with ConsoleClient(stack) as read_write:
        await read_write.sign_in(tenant.api_key)
        csrf = await read_write.csrf(page)
        assert_refused(await read_write.post(f"{page}/keys", csrf, scope="read"), 403, "BW2022")
        assert_refused(await read_write.post(f"{page}/dsn", csrf), 403, "BW2022")
        assert_refused(await read_write.post(f"{page}/hibernate", csrf), 403, "BW2022")
        woken = await read_write.post(f"{page}/wake", csrf)
        assert (woken.status_code, woken.headers["location"]) == (303, f"{page}?done=wake")
    admin_key, _ = new_key(stack, tenant, "admin")
    async with ConsoleClient(stack) as admin:
        await admin.sign_in(admin_key)
        csrf = await admin.csrf(page)
        shown = await admin.post(f"{page}/dsn", csrf)
        assert shown.status_code == 200 and tenant.dsn in shown.text.replace("&amp;", "&")
        assert_refused(await admin.post(f"{page}/limits", csrf, query_timeout_ms="1000"), 403, "BW2022")


async def test_the_origin_serves_the_console_only_through_the_edge(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.origin_url) as direct:
        for path in ("/console", "/console/login", "/console/static/console.css"):
            refused = await direct.get(path)
            assert (refused.status_code, refused.headers["prisma-error-code"]) == (401, "BW2001")
