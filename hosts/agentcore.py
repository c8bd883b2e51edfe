"""The host agent itself (`Agent`): its fleet of instances, the wake-on-connect proxy, the reporter
that registers it with the control plane and the storage sampler, started and stopped together.
agent.py serves it over HTTP."""

from __future__ import annotations

import json
from typing import Any

from .capacity import capacity
from .fleet import Fleet
from .proxy import Proxy
from .reporting import Reporter
from .settings import AgentSettings
from .shared import SharedCluster
from .storage import StorageSampler


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.fleet = Fleet(settings)
        self.proxy = Proxy(self.fleet, settings.connection_budget)
        self.storage = StorageSampler(self.fleet, settings.storage_interval)
        self.reporter = Reporter(settings, self.report)

    @property
    def shared(self) -> SharedCluster:
        return self.fleet.shared

    async def start(self) -> None:
        """Adopt what is on disk and running, listen for proxied connections, apply the idle policy."""
        await self.fleet.start()
        await self.proxy.listen(self.settings.proxy_host, self._proxy_port())
        self.fleet.start_idle_policy()
        self.storage.start()
        self.reporter.start()

    async def stop(self) -> None:
        # Instances keep running: they outlive the agent, and the next one adopts them.
        await self.reporter.stop()
        await self.storage.stop()
        await self.fleet.stop()
        await self.proxy.close()

    def report(self) -> dict[str, Any]:
        """What the control plane hears every few seconds (besides id, URL and token)."""
        return {
            "proxy": f"{self.settings.public_host}:{self.fleet.proxy_port}",
            "capacity": capacity(self.fleet),
        }

    def _proxy_port(self) -> int:
        """The configured port, else the one picked on the first start: DSNs handed out name it."""
        path = self.settings.root / "agent.json"
        saved: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        if self.settings.proxy_port:
            port = self.settings.proxy_port
        else:
            from .ports import free_port

            port = int(saved.get("proxy_port") or free_port())
        if saved.get("proxy_port") != port:
            path.write_text(json.dumps({**saved, "proxy_port": port}))
        return port
