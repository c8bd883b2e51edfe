"""Origin settings from the environment (`BREAKWATER_*`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    control_dsn: str
    service_secrets: tuple[bytes, ...]
    key_secret: bytes
    admin_token: str
    # Host agents register themselves with this token (hosts/reporting.py); the control plane keeps
    # each one's URL and own token.
    registration_token: str
    edge_url: str
    public_url: str
    origin_id: str = "o1"
    key_cache_seconds: float = 2.0
    # How often the origin looks which other origins are live (peers.py); joins and clean leaves are
    # seen at once, a crash within this.
    peers_interval: float = 1.0
    # Answered by the health check, so whoever started this process knows it is talking to it.
    instance_id: str = ""
    # A console session ends this long after sign-in, or after this long without a request.
    console_session_seconds: float = 12 * 3600.0
    console_idle_seconds: float = 3600.0
    # Metering (origin/metering/): this process's journal, how often it is counted, how often limits
    # are evaluated, the first webhook retry's wait, how often storage samples are read.
    meter_dir: Path = field(default_factory=lambda: Path(".breakwater/meter/o1"))
    meter_flush_seconds: float = 1.0
    limits_interval_seconds: float = 2.0
    webhook_retry_seconds: float = 5.0
    storage_poll_seconds: float = 60.0
    meter_fault_pause_seconds: float = 0.0  # fault tests only
    # Query insights (origin/insights/): off with BREAKWATER_INSIGHTS=off (also switchable at run time).
    insights: bool = True
    hosts_stale_seconds: float = 15.0  # a host not heard from this long gets no new databases
    move_grace_seconds: float = 2.0  # at a move, what runs in the database may finish for this long
    move_capture_wait_seconds: float = 30.0  # and change capture may deliver what came before
    move_max_seconds: float = 300.0  # a move not serving from its new host by then is undone

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def need(name: str) -> str:
            value = env.get(name, "")
            if not value:
                raise SettingsError(f"set {name} (scripts/dev writes it for you)")
            return value

        service = [need("BREAKWATER_SERVICE_SECRET").encode()]
        if env.get("BREAKWATER_SERVICE_SECRET_PREVIOUS"):
            service.append(env["BREAKWATER_SERVICE_SECRET_PREVIOUS"].encode())
        edge_url = need("BREAKWATER_EDGE_URL").rstrip("/")
        origin_id = env.get("BREAKWATER_ORIGIN_ID", "o1")

        def seconds(name: str, default: float) -> float:
            value = float(env.get(name) or default)
            if value < 0:
                raise SettingsError(f"{name} must not be negative")
            return value

        return cls(
            control_dsn=need("BREAKWATER_CONTROL_DSN"),
            service_secrets=tuple(service),
            key_secret=need("BREAKWATER_KEY_SECRET").encode(),
            admin_token=need("BREAKWATER_ADMIN_TOKEN"),
            registration_token=need("BREAKWATER_HOSTS_REGISTRATION_TOKEN"),
            edge_url=edge_url,
            public_url=env.get("BREAKWATER_PUBLIC_URL", edge_url).rstrip("/"),
            origin_id=origin_id,
            key_cache_seconds=float(env.get("BREAKWATER_KEY_CACHE_SECONDS", "2")),
            peers_interval=float(env.get("BREAKWATER_PEERS_INTERVAL_SECONDS") or cls.peers_interval),
            instance_id=env.get("BREAKWATER_INSTANCE_ID", ""),
            console_session_seconds=float(env.get("BREAKWATER_CONSOLE_SESSION_SECONDS") or 12 * 3600),
            console_idle_seconds=float(env.get("BREAKWATER_CONSOLE_IDLE_SECONDS") or 3600),
            meter_dir=Path(env.get("BREAKWATER_METER_DIR") or f".breakwater/meter/{origin_id}").resolve(),
            meter_flush_seconds=seconds("BREAKWATER_METER_FLUSH_SECONDS", 1.0),
            limits_interval_seconds=seconds("BREAKWATER_LIMITS_INTERVAL_SECONDS", 2.0),
            webhook_retry_seconds=seconds("BREAKWATER_WEBHOOK_RETRY_SECONDS", 5.0),
            storage_poll_seconds=seconds("BREAKWATER_STORAGE_POLL_SECONDS", 60.0),
            meter_fault_pause_seconds=seconds("BREAKWATER_METER_FAULT_PAUSE_MS", 0.0) / 1000,
            insights=env.get("BREAKWATER_INSIGHTS", "on") != "off",
            hosts_stale_seconds=float(env.get("BREAKWATER_HOSTS_STALE_SECONDS") or cls.hosts_stale_seconds),
            move_grace_seconds=float(env.get("BREAKWATER_MOVE_GRACE_SECONDS") or cls.move_grace_seconds),
            move_capture_wait_seconds=float(
                env.get("BREAKWATER_MOVE_CAPTURE_WAIT_SECONDS") or cls.move_capture_wait_seconds
            ),
            move_max_seconds=float(env.get("BREAKWATER_MOVE_MAX_SECONDS") or cls.move_max_seconds),
        )
