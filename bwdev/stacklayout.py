"""What a stack is before it runs (`StackLayout`): its services, their ports and addresses, and each
service's command line and environment. `Stack` (stack.py) runs it.

Origins are a list of services (`origin`, `origin-2`, …, origin ids `o1`, `o2`, …), each with its own
port, BREAKWATER_ORIGIN_ID and instance id; the edge knows them all (ORIGINS).
With `hosts=N` it runs N host agents, each with its own root, ports, token and host id (`local`,
`h2`, `h3`, …; services `hosts`, `hosts2`, …), which register with the origins as on many machines.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hosts.ports import free_ports
from hosts.postgres import PostgresInstance

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTROL_DATABASE = "breakwater"


@dataclass
class StackConfig:
    root: Path
    edge_port: int = 0  # 0: any free port
    origin_port: int = 0
    hosts_port: int = 0  # the first host agent's; the others take free ports
    hosts: int = 1  # host agents
    origins: int = 1  # origin processes: `origin` (o1) on origin_port, then `origin-2` (o2), … on free ports
    durable: bool = True
    edge_mode: str = "local"  # local | wrangler
    revocation_ttl: float = 5.0
    extra_env: dict[str, str] = field(default_factory=dict)


class StackLayout:
    """The stack's services and how each is started; `Stack` adds running them."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.root = config.root.resolve()
        self._instance_ids: dict[str, str] = {}  # what each service we started answers on /health
        self.control: PostgresInstance | None = None
        self.secrets: dict[str, str] = {}
        # Host agents: service name -> host id ("hosts" is "local", as a one-host stack always was).
        self.host_services = {
            ("hosts" if i == 1 else f"hosts{i}"): ("local" if i == 1 else f"h{i}")
            for i in range(1, max(1, config.hosts) + 1)
        }
        chosen = {
            "edge": config.edge_port,
            "origin": config.origin_port,
            **{name: config.hosts_port if name == "hosts" else 0 for name in self.host_services},
            **{f"origin-{number}": 0 for number in range(2, config.origins + 1)},
        }
        spare = iter(free_ports(sum(1 for port in chosen.values() if not port)))
        self.ports = {name: port or next(spare) for name, port in chosen.items()}

    # --- addresses ------------------------------------------------------------------------------

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['edge']}"

    @property
    def origin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['origin']}"

    @property
    def origin_services(self) -> list[str]:
        """The origins' service names, `origin` (o1) first."""
        return ["origin", *(f"origin-{n}" for n in range(2, self.config.origins + 1))]

    @property
    def origin_urls(self) -> dict[str, str]:
        """Origin id → its URL, for every origin of the stack."""
        return {origin_id(name): f"http://127.0.0.1:{self.ports[name]}" for name in self.origin_services}

    @property
    def hosts_url(self) -> str:
        """The first host agent's API."""
        return self.host_url("local")

    @property
    def hosts_root(self) -> Path:
        """The first host agent's root."""
        return self.host_root("local")

    @property
    def host_ids(self) -> list[str]:
        return list(self.host_services.values())

    def host_service(self, host_id: str) -> str:
        return next(name for name, found in self.host_services.items() if found == host_id)

    def host_url(self, host_id: str) -> str:
        return f"http://127.0.0.1:{self.ports[self.host_service(host_id)]}"

    def host_root(self, host_id: str) -> Path:
        return self.root / self.host_service(host_id)

    def host_token(self, host_id: str) -> str:
        return self.secrets["hosts_token" if host_id == "local" else f"hosts_token_{host_id}"]

    def _service_spec(self, name: str) -> tuple[list[str], dict[str, str], str, float]:
        """argv, environment, health URL and start-up timeout of a service."""
        if name in self.host_services:
            host_id = self.host_services[name]
            argv = [sys.executable, "-m", "hosts", "--port", str(self.ports[name])]
            return argv, self.env_hosts(host_id), f"{self.host_url(host_id)}/health", 30
        if name in self.origin_services:
            url = self.origin_urls[origin_id(name)]
            argv = [sys.executable, "-m", "origin", "--port", str(self.ports[name])]
            return argv, self.env_origin(name), f"{url}/_bw/health", 30
        wrangler = self.config.edge_mode == "wrangler"
        return self._edge_argv(), self.env_edge(), f"{self.edge_url}/_bw/health", 120 if wrangler else 30

    # --- environments ---------------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKWATER_")}
        env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT / "edge"), str(PROJECT_ROOT)])
        env.update(self.config.extra_env)
        return env

    def env_hosts(self, host_id: str = "local") -> dict[str, str]:
        return {
            **self._base_env(),
            "BREAKWATER_HOSTS_ROOT": str(self.host_root(host_id)),
            "BREAKWATER_HOSTS_TOKEN": self.host_token(host_id),
            "BREAKWATER_HOST_ID": host_id,
            "BREAKWATER_HOSTS_PUBLIC_URL": self.host_url(host_id),
            "BREAKWATER_HOSTS_ORIGINS": ",".join(self.origin_urls.values()),
            "BREAKWATER_HOSTS_REGISTRATION_TOKEN": self.secrets["registration_token"],
            "BREAKWATER_PG_FAST": "" if self.config.durable else "1",
        }

    def env_origin(self, name: str = "origin") -> dict[str, str]:
        assert self.control is not None
        return {
            **self._base_env(),
            "BREAKWATER_CONTROL_DSN": self.control.dsn(CONTROL_DATABASE),
            "BREAKWATER_SERVICE_SECRET": self.secrets["service_secret"],
            "BREAKWATER_KEY_SECRET": self.secrets["key_secret"],
            "BREAKWATER_ADMIN_TOKEN": self.secrets["admin_token"],
            "BREAKWATER_HOSTS_REGISTRATION_TOKEN": self.secrets["registration_token"],
            "BREAKWATER_EDGE_URL": self.edge_url,
            "BREAKWATER_ORIGIN_ID": origin_id(name),
            # Its usage journal (origin/metering/meter.py): kept across restarts, one per origin id.
            "BREAKWATER_METER_DIR": str(self.root / "meter" / origin_id(name)),
            **{k: v for k, v in self.config.extra_env.items() if k.startswith("BREAKWATER_")},
        }

    def env_edge(self) -> dict[str, str]:
        return {
            **self._base_env(),
            "KEY_SECRET": self.secrets["key_secret"],
            "SERVICE_SECRET": self.secrets["service_secret"],
            "ORIGINS": json.dumps(self.origin_urls),
            "REVOCATION_TTL_SECONDS": str(self.config.revocation_ttl),
            "EDGE_STATE_DIR": str(self.root / "edge"),
            "INSTANCE_ID": self._instance_ids.get("edge", ""),
        }

    def _edge_argv(self) -> list[str]:
        if self.config.edge_mode == "local":
            return [sys.executable, "-m", "edge_local", "--port", str(self.ports["edge"])]
        # wrangler dev reads secrets from .dev.vars beside wrangler.toml.
        dev_vars = PROJECT_ROOT / ".dev.vars"
        env = self.env_edge()
        names = ("KEY_SECRET", "SERVICE_SECRET", "ORIGINS", "INSTANCE_ID")
        # Single quotes: dotenv keeps the value as it is (ORIGINS is JSON, with double quotes).
        dev_vars.write_text("".join(f"{k}='{env[k]}'\n" for k in names))
        dev_vars.chmod(0o600)
        return ["npx", "wrangler", "dev", "--ip", "127.0.0.1", "--port", str(self.ports["edge"])]

    def connection_url(self, api_key: str) -> str:
        """The URL a client uses with `api_key`, through this stack's edge."""
        return f"prisma+postgres://127.0.0.1:{self.ports['edge']}/?api_key={api_key}"

    def dev_info(self, database: dict[str, Any]) -> dict[str, Any]:
        return {
            "edge_url": self.edge_url,
            "origin_url": self.origin_url,
            "origin_urls": self.origin_urls,
            "hosts_url": self.hosts_url,
            "database": database["database"]["name"],
            "api_key": database["api_key"],
            "url": database["url"],
            "postgres_dsn": database["postgres_dsn"],
            "admin_token": self.secrets["admin_token"],
        }


def origin_id(service: str) -> str:
    """The origin id of an origin service: `origin` is o1, `origin-2` is o2."""
    return "o" + (service.rpartition("-")[2] if "-" in service else "1")
