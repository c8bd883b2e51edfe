"""Every host agent the control plane knows, and the calls the origin makes about one database, each
sent to the agent of the host that database lives on (`databases.host_id`): provisioning goes where
placement chose, everything after follows the database, also after it moved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..errors import BreakwaterError, NotFound, host_unavailable
from .clients import HostsClient
from .hostrecords import HostRecord, HostStore
from .store import ControlStore


class HostBook:
    def __init__(self, store: ControlStore, hosts: HostStore, http: httpx.AsyncClient) -> None:
        self.store = store
        self.hosts = hosts
        self._http = http
        self._clients: dict[str, HostsClient] = {}

    def client_for(self, host: HostRecord) -> HostsClient:
        """The agent's client (made again when its URL or token changed)."""
        if host.token is None:
            raise host_unavailable(host.id, "its agent has not registered (no token known)")
        found = self._clients.get(host.id)
        if found is None or found.url != host.url or found._token != host.token:
            found = self._clients[host.id] = HostsClient(host.url, host.token, self._http, host.id)
        return found

    async def agent(self, host_id: str) -> HostsClient:
        host = await self.hosts.get(host_id)
        if host is None:
            raise NotFound(f"There is no host {host_id!r}.", hint="`breakwater host list` shows them.")
        return self.client_for(host)

    async def of_database(self, database_id: str) -> HostsClient:
        host_id = await self.store.host_of(database_id)
        if host_id is None:
            raise NotFound(f"There is no database {database_id!r}.")
        return await self.agent(host_id)

    # --- about one database, on its own host (what capture and the admin API call) -------------

    async def drop_database(self, database_id: str) -> None:
        await (await self.of_database(database_id)).drop_database(database_id)

    async def read_only_role(self, database_id: str) -> str:
        return await (await self.of_database(database_id)).read_only_role(database_id)

    async def database_action(self, database_id: str, action: str) -> dict[str, Any]:
        return await (await self.of_database(database_id)).database_action(database_id, action)

    async def enable_capture(self, database_id: str) -> dict[str, Any]:
        return await (await self.of_database(database_id)).enable_capture(database_id)

    async def capture_address(self, database_id: str) -> str:
        return await (await self.of_database(database_id)).capture_address(database_id)

    async def disable_capture(self, database_id: str) -> None:
        await (await self.of_database(database_id)).disable_capture(database_id)

    async def enable_hypopg(self, database_id: str) -> dict[str, Any]:
        return await (await self.of_database(database_id)).enable_hypopg(database_id)

    # --- every host at once (metering's storage samples) ------------------------------------------

    async def storage(self) -> dict[str, Any]:
        """The latest storage samples of every registered host's databases."""
        return await self._every_host(lambda agent: agent.storage())

    async def sample_storage(self) -> dict[str, Any]:
        """Every registered host samples its databases' storage now (nothing is woken), then the samples."""
        return await self._every_host(lambda agent: agent.sample_storage())

    async def _every_host(self, ask: Callable[[HostsClient], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """`{"samples": [...]}` over every registered host; a host that cannot answer is left out this
        time (its databases keep their last samples) rather than failing the others'."""
        samples: list[Any] = []
        unreachable: list[str] = []
        for host in await self.hosts.list():
            if host.token is None:
                continue
            try:
                found = await ask(self.client_for(host))
            except BreakwaterError:
                unreachable.append(host.id)
                continue
            samples.extend(found.get("samples", []))
        return {"samples": samples, "unreachable": unreachable}
