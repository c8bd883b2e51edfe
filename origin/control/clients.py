"""The control plane's calls out: to host agents (provision, drop, storage samples) and to the edge
(revocations, plan-limit states, a request to report its cache hits now)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from bwcontract import service, usage, wire
from bwcontract.codes import Code
from bwcontract.wire import EVENT_FIGURES_PATH

from ..errors import BreakwaterError, NotFound, UpstreamError, host_unavailable


class HostRefused(BreakwaterError):
    """The host agent cannot turn change capture on because of what the tenant's own database holds
    (hosts/capture.py CaptureRefused): the tenant's to fix, not a failure of the host."""

    code = Code.CAPTURE_REFUSED


class HostsClient:
    """One host agent's API (its URL and bearer token come from its registration)."""

    def __init__(self, url: str, token: str, http: httpx.AsyncClient, host_id: str = "") -> None:
        self.url = url
        self.host_id = host_id or url
        self._token = token
        self._http = http

    @property
    def _auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._token}"}

    def _unreachable(self, exc: Exception) -> BreakwaterError:
        return host_unavailable(self.host_id, f"its agent at {self.url} does not answer ({exc!r})")

    def _refused(self, method: str, path: str, response: httpx.Response) -> BreakwaterError:
        if response.status_code == 409 and response.json().get("code") == HostRefused.code:
            return HostRefused(str(response.json().get("message", "")))
        if response.status_code == 404:
            return NotFound(f"Host {self.host_id!r}: {response.json().get('message', response.text)}")
        return UpstreamError(
            f"The host agent of {self.host_id!r} refused {method} {path}: {response.text}",
            meta={"host": self.host_id},
        )

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float | None = 60.0,
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method, self.url + path, json=body, headers=self._auth, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise self._refused(method, path, response)
        result: dict[str, Any] = response.json()
        return result

    # --- moving a database (hosts/moving.py) ----------------------------------------------------

    async def fence(self, database_id: str, grace: float) -> dict[str, Any]:
        return await self._call("POST", f"/databases/{database_id}/fence", {"grace": grace})

    async def unfence(self, database_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/databases/{database_id}/unfence")

    async def export(self, database_id: str) -> dict[str, Any]:
        """Spool the fenced database's package on the host; returns its manifest."""
        return await self._call("POST", f"/databases/{database_id}/export", timeout=None)

    @contextlib.asynccontextmanager
    async def package(self, database_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """The exported package's bytes, as they arrive."""
        path = f"/databases/{database_id}/export"
        try:
            async with self._http.stream(
                "GET", self.url + path, headers=self._auth, timeout=None
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._refused("GET", path, response)
                yield response.aiter_bytes()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    async def import_package(self, manifest: dict[str, Any], chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Make the database on this host from a package (it stays fenced)."""

        async def body() -> AsyncIterator[bytes]:
            yield json.dumps(manifest).encode() + b"\n"
            async for chunk in chunks:
                yield chunk

        try:
            response = await self._http.post(
                self.url + "/databases/import", content=body(), headers=self._auth, timeout=None
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise self._refused("POST", "/databases/import", response)
        result: dict[str, Any] = response.json()
        return result

    async def release(self, database_id: str, host: str, proxy: str) -> dict[str, Any]:
        return await self._call("POST", f"/databases/{database_id}/release", {"host": host, "proxy": proxy})

    async def create_database(self, database_id: str, placement: str) -> dict[str, Any]:
        return await self._call("POST", "/databases", {"id": database_id, "placement": placement})

    async def drop_database(self, database_id: str) -> None:
        await self._call("DELETE", f"/databases/{database_id}")

    async def read_only_role(self, database_id: str) -> str:
        """(Re)make a database's read-only role (with a new password); returns its DSN."""
        return str((await self._call("POST", f"/databases/{database_id}/readonly"))["dsn"])

    async def enable_hypopg(self, database_id: str) -> dict[str, Any]:
        """hypopg in the database's `bw_hypopg` schema (query insights); {"hypopg": bool, "reason"?}."""
        return await self._call("POST", f"/databases/{database_id}/hypopg")

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

    async def storage(self) -> dict[str, Any]:
        """The latest storage sample of every database on the host (hosts/storage.py)."""
        return await self._call("GET", "/storage")

    async def sample_storage(self) -> dict[str, Any]:
        """Sample every database's storage now (nothing is woken), then the samples."""
        return await self._call("POST", "/storage/sample")


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
        try:
            response = await self._post(path, body, "revoke")
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

    async def queue_figures(self, database_id: str) -> dict[str, Any]:
        """The database's event queue: head, size and each stream's lag (bwedge.eventqueue.figures)."""
        path = EVENT_FIGURES_PATH.format(database_id=database_id)
        signature = service.sign(
            self._secret, "edge", {"op": "figures", "d": database_id}, "GET", path, b"", time.time()
        )
        try:
            response = await self._http.get(self.url + path, headers={service.HEADER: signature})
        except httpx.HTTPError as exc:
            raise UpstreamError(f"The edge at {self.url} could not be reached: {exc}") from None
        if response.status_code != 200:
            raise UpstreamError(
                f"The edge refused the queue's figures ({response.status_code}): {response.text}"
            )
        figures: dict[str, Any] = response.json()
        return figures

    async def _post(self, path: str, body: bytes, op: str) -> httpx.Response:
        signature = service.sign(self._secret, "edge", {"op": op}, "POST", path, body, time.time())
        return await self._http.post(
            self.url + path,
            content=body,
            headers={service.HEADER: signature, "content-type": "application/json"},
        )

    async def push_limits(self, limits: list[usage.PlanLimit]) -> None:
        """Tell the edge the plan-limit state of these databases (`ok` lifts one)."""
        await self._checked(wire.PLAN_LIMITS_PATH, usage.limits_to_json(limits), "limits")

    async def flush_usage(self) -> dict[str, Any]:
        """Ask the edge to report the cache hits it counted so far now (in the Worker: the isolate
        that takes this request; the others report on their own within their flush interval)."""
        answer: dict[str, Any] = (await self._checked(wire.USAGE_FLUSH_PATH, b"{}", "flush")).json()
        return answer

    async def _checked(self, path: str, body: bytes, op: str) -> httpx.Response:
        try:
            response = await self._post(path, body, op)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"The edge at {self.url} could not be reached: {exc}") from None
        if response.status_code != 200:
            raise UpstreamError(f"The edge refused {path} ({response.status_code}): {response.text[:300]}")
        return response
