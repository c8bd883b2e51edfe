"""Host agent settings from the environment (`BREAKWATER_HOSTS_*`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AgentSettings:
    root: Path
    token: str
    host_id: str = "local"
    durable: bool = True
    proxy_host: str = "127.0.0.1"  # where the wake-on-connect proxy listens
    proxy_port: int = 0  # 0: the port picked on the first start, kept in agent.json
    public_host: str = "127.0.0.1"  # the host name put into the DSNs handed out
    pause_after: float = 60.0  # idle seconds before an instance is frozen; 0: never
    hibernate_after: float = 1800.0  # idle seconds before it is stopped; 0: never
    idle_interval: float = 1.0  # how often the idle policy looks
    freezer: str = "auto"  # auto | cgroup2 | cgroup1 | signals
    copy: str = "auto"  # auto | reflink | copy
    spares: int = 2  # databases of each placement made ahead of time (see spares.py)
    storage_interval: float = 300.0  # seconds between storage samples (storage.py); 0: on request only
    # Tenant sessions on this host at once, over every origin and direct client (proxy.py). The
    # origins' pools divide BREAKWATER_POOL_HOST_BUDGET (100) among them; the rest is room for change
    # capture and direct clients, which a host full of pooled connections would otherwise refuse.
    # 0: no budget.
    connection_budget: int = 120
    instance_id: str = ""  # answered by /health: whoever started the agent knows it reached this one
    # Registration (reporting.py): the origins it reports to, with the registration token, naming
    # itself by `public_url` (where origins reach this agent's API). Without them it does not report.
    origins: tuple[str, ...] = ()
    registration_token: str = ""
    public_url: str = ""
    report_interval: float = 5.0
    max_databases: int = 0  # the operator's cap on databases placed here; 0: none

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgentSettings:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            return float(env.get(name) or default)

        return cls(
            root=Path(env.get("BREAKWATER_HOSTS_ROOT", ".breakwater/hosts")).resolve(),
            token=env["BREAKWATER_HOSTS_TOKEN"],
            host_id=env.get("BREAKWATER_HOST_ID", "local"),
            durable=env.get("BREAKWATER_PG_FAST", "") != "1",
            proxy_host=env.get("BREAKWATER_HOSTS_PROXY_HOST", "127.0.0.1"),
            proxy_port=int(number("BREAKWATER_HOSTS_PROXY_PORT", 0)),
            public_host=env.get("BREAKWATER_HOSTS_PUBLIC_HOST", "127.0.0.1"),
            pause_after=number("BREAKWATER_HOSTS_PAUSE_AFTER", cls.pause_after),
            hibernate_after=number("BREAKWATER_HOSTS_HIBERNATE_AFTER", cls.hibernate_after),
            idle_interval=number("BREAKWATER_HOSTS_IDLE_INTERVAL", cls.idle_interval),
            freezer=env.get("BREAKWATER_HOSTS_FREEZER", "auto"),
            copy=env.get("BREAKWATER_HOSTS_COPY", "auto"),
            spares=int(number("BREAKWATER_HOSTS_SPARES", cls.spares)),
            storage_interval=number("BREAKWATER_HOSTS_STORAGE_INTERVAL", cls.storage_interval),
            connection_budget=int(number("BREAKWATER_HOST_CONNECTION_BUDGET", cls.connection_budget)),
            instance_id=env.get("BREAKWATER_INSTANCE_ID", ""),
            origins=tuple(
                u.strip().rstrip("/") for u in env.get("BREAKWATER_HOSTS_ORIGINS", "").split(",") if u.strip()
            ),
            registration_token=env.get("BREAKWATER_HOSTS_REGISTRATION_TOKEN", ""),
            public_url=env.get("BREAKWATER_HOSTS_PUBLIC_URL", "").rstrip("/"),
            report_interval=number("BREAKWATER_HOSTS_REPORT_SECONDS", cls.report_interval),
            max_databases=int(number("BREAKWATER_HOSTS_MAX_DATABASES", cls.max_databases)),
        )
