"""A browser's side of the console, over HTTP: a cookie jar, the sign-in form, and forms with the
page's CSRF token (for the tests that check what the origin answers to forms, without a browser)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from bwdev.stack import Stack

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


class ConsoleClient:
    def __init__(self, stack: Stack) -> None:
        self.http = httpx.AsyncClient(base_url=stack.edge_url, timeout=30)
        self.origin_header = stack.edge_url  # what a browser sends as Origin on a form

    async def __aenter__(self) -> ConsoleClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.aclose()

    async def sign_in(self, secret: str) -> httpx.Response:
        page = await self.http.get("/console/login")
        found = _LOGIN_CSRF.search(page.text)
        assert found, page.text
        return await self.http.post(
            "/console/login",
            data={"login_csrf": found.group(1), "secret": secret},
            headers={"origin": self.origin_header, "sec-fetch-site": "same-origin"},
        )

    async def csrf(self, path: str = "/console") -> str:
        page = await self.http.get(path)
        found = _CSRF.search(page.text)
        assert found, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
        return found.group(1)

    async def post(self, path: str, csrf: str | None, **fields: Any) -> httpx.Response:
        data = {**fields, **({"csrf": csrf} if csrf is not None else {})}
        return await self.http.post(
            path, data=data, headers={"origin": self.origin_header, "sec-fetch-site": "same-origin"}
        )
