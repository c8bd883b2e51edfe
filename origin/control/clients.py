"""The control plane's calls out: to host agents (provision, drop) and to the edge (revocations)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bwcontract import service
from bwcontract.codes import Code

from ..errors import BreakwaterError, UpstreamError


class HostRefused(BreakwaterError):
    """The host agent cannot turn change capture on because of what the tenant's own database holds
    (hosts/capture.py CaptureRefused): the tenant's to fix, not a failure of the host."""

    code = Code.CAPTURE_REFUSED


class HostsClient:
    def __init__(self, url: str, token: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self._token = token
        self._http = http

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method, self.url + path, json=body, headers={"authorization": f"Bearer {self._token}"}
            )
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"The host agent at {self.url} could not be reached: {exc}",
                hint="Check that the host agent is running (scripts/dev starts it).",
            ) from None
        if response.status_code == 409 and response.json().get("code") == HostRefused.code:
            raise HostRefused(str(response.json().get("message", "")))
        if response.status_code >= 400:
            raise UpstreamError(f"The host agent refused {method} {path}: {response.text}")
        result: dict[str, Any] = response.json()
        return result

    async def create_database(self, database_id: str, placement: str) -> dict[str, Any]:
        return await self._call("POST", "/databases", {"id": database_id, "placement": placement})

    async def drop_database(self, database_id: str) -> None:
        await self._call("DELETE", f"/databases/{database_id}")

    async def read_only_role(self, database_id: str) -> str:
        """(Re)make a database's read-only role (with a new password); returns its DSN."""
        return str((await self._call("POST", f"/databases/{database_id}/readonly"))["dsn"])

    async def database_action(self, database_id: str, action: str) -> dict[str, Any]:
        """pause | resume | hibernate | start | restart the instance holding a database."""
        return await self._call("POST", f"/databases/{database_id}/{action}")

    async def enable_capture(self, database_id: str) -> dict[str, Any]:
        """Prepare a database for change capture; returns the capture DSN and publication."""
        return await self._call("POST", f"/databases/{database_id}/capture")

    async def capture_address(self, database_id: str) -> str:
        """The capture DSN as it is now (the instance's port may have moved while it slept)."""
        return str((await self._call("GET", f"/databases/{database_id}/capture"))["dsn"])

    async def disable_capture(self, database_id: str) -> None:
        await self._call("DELETE", f"/databases/{database_id}/capture")

    async def instance(self, name: str) -> dict[str, Any]:
        """One instance's state and resource figures."""
        return await self._call("GET", f"/instances/{name}")

    async def instances(self) -> dict[str, Any]:
        """The host's instances with state and resource figures."""
        return await self._call("GET", "/instances")


class EdgeClient:
    def __init__(self, url: str, secret: bytes, http: httpx.AsyncClient) -> None:
        self.url = url
        self._secret = secret
        self._http = http

    async def push_revocations(
        self, key_ids: list[str], database_ids: list[str], key_databases: dict[str, str] | None = None
    ) -> None:
        """Tell the edge; `key_databases` (key id -> its database) lets it close the keys' streams,
        and a deleted database's streams close with it."""
        path = "/_bw/revocations"
        body = json.dumps(
            {"key_ids": key_ids, "database_ids": database_ids, "key_databases": key_databases or {}}
        ).encode()
        signature = service.sign(self._secret, "edge", {"op": "revoke"}, "POST", path, body, time.time())
        try:
            response = await self._http.post(
                self.url + path,
                content=body,
                headers={service.HEADER: signature, "content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"The revocation is recorded, but the edge at {self.url} could not be told: {exc}",
                hint="The origin refuses the key already; run the revoke again once the edge is up.",
            ) from None
        if response.status_code != 200:
            raise UpstreamError(
                f"The revocation is recorded, but the edge refused it "
                f"({response.status_code}): {response.text}",
                hint="Check that the edge and the origin share SERVICE_SECRET.",
            )
