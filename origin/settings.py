"""Origin settings from the environment (`BREAKWATER_*`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


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
    # Answered by the health check, so whoever started this process knows it is talking to it.
    instance_id: str = ""
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
        return cls(
            control_dsn=need("BREAKWATER_CONTROL_DSN"),
            service_secrets=tuple(service),
            key_secret=need("BREAKWATER_KEY_SECRET").encode(),
            admin_token=need("BREAKWATER_ADMIN_TOKEN"),
            registration_token=need("BREAKWATER_HOSTS_REGISTRATION_TOKEN"),
            edge_url=edge_url,
            public_url=env.get("BREAKWATER_PUBLIC_URL", edge_url).rstrip("/"),
            origin_id=env.get("BREAKWATER_ORIGIN_ID", "o1"),
            key_cache_seconds=float(env.get("BREAKWATER_KEY_CACHE_SECONDS", "2")),
            instance_id=env.get("BREAKWATER_INSTANCE_ID", ""),
            hosts_stale_seconds=float(env.get("BREAKWATER_HOSTS_STALE_SECONDS") or cls.hosts_stale_seconds),
            move_grace_seconds=float(env.get("BREAKWATER_MOVE_GRACE_SECONDS") or cls.move_grace_seconds),
            move_capture_wait_seconds=float(
                env.get("BREAKWATER_MOVE_CAPTURE_WAIT_SECONDS") or cls.move_capture_wait_seconds
            ),
            move_max_seconds=float(env.get("BREAKWATER_MOVE_MAX_SECONDS") or cls.move_max_seconds),
        )
