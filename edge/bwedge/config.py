"""Edge settings, read from the Worker's environment (wrangler vars and secrets) or the process
environment in the local runtime. Names are the same in both."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class EdgeConfig:
    key_secrets: tuple[bytes, ...]
    service_secrets: tuple[bytes, ...]
    origins: dict[str, str]  # origin id -> base URL
    default_origin: str
    revocation_ttl: float = 5.0
    # Answered by /_bw/health, so a dev runner knows the edge it reached is the one it started.
    instance_id: str = ""
    # The largest request body the edge forwards (the origin checks each database's own limit).
    max_request_bytes: int = 32 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EdgeConfig:
        key_secrets = _secrets(env, "KEY_SECRET")
        service_secrets = _secrets(env, "SERVICE_SECRET")
        origins: dict[str, str] = {}
        if env.get("ORIGINS"):
            parsed = json.loads(env["ORIGINS"])
            if not isinstance(parsed, dict) or not parsed:
                raise ConfigError('ORIGINS must be a JSON object {"origin id": "http://host:port"}')
            origins = {str(k): str(v).rstrip("/") for k, v in parsed.items()}
        if env.get("ORIGIN_URL"):
            origins.setdefault(env.get("ORIGIN_ID", "o1"), env["ORIGIN_URL"].rstrip("/"))
        if not origins:
            raise ConfigError("set ORIGIN_URL (or ORIGINS) to the origin's base URL")
        return cls(
            key_secrets=key_secrets,
            service_secrets=service_secrets,
            origins=origins,
            default_origin=next(iter(origins)),
            revocation_ttl=float(env.get("REVOCATION_TTL_SECONDS", "5")),
            instance_id=env.get("INSTANCE_ID", ""),
            max_request_bytes=int(env.get("MAX_REQUEST_BYTES") or cls.max_request_bytes),
        )


def _secrets(env: Mapping[str, str], name: str) -> tuple[bytes, ...]:
    """`NAME` signs and verifies; `NAME_PREVIOUS` only verifies, so a secret can be rotated."""
    current = env.get(name, "")
    if len(current) < 32:
        raise ConfigError(f"{name} must be set to a random string of at least 32 characters")
    values = [current.encode()]
    if env.get(f"{name}_PREVIOUS"):
        values.append(env[f"{name}_PREVIOUS"].encode())
    return tuple(values)
