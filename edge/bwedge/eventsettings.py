"""The event queue's settings, read from the Worker's (or the local edge's) environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .eventlog import LogLimits


@dataclass(frozen=True)
class QueueSettings:
    limits: LogLimits = field(default_factory=LogLimits)
    frame_bytes: int = 1_000_000  # one WebSocket message at most (Workers allow 32 MiB; stay well below)
    scan_limit: int = 1_000  # events examined per read while serving a socket
    pump_pages: int = 50  # reads per serving turn before yielding to the alarm
    stream_ttl_seconds: float = 30 * 24 * 3600  # a named stream unused this long is dropped
    maintenance_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QueueSettings:
        def number(name: str, default: float) -> float:
            return float(env.get(name) or default)

        base = cls()
        return cls(
            limits=LogLimits(
                inline_limit=int(number("EVENTS_INLINE_LIMIT", base.limits.inline_limit)),
                hot_events=int(number("EVENTS_HOT_EVENTS", base.limits.hot_events)),
                segment_events=int(number("EVENTS_SEGMENT_EVENTS", base.limits.segment_events)),
                retention_seconds=number("EVENTS_RETENTION_SECONDS", base.limits.retention_seconds),
            ),
            frame_bytes=int(number("EVENTS_FRAME_BYTES", base.frame_bytes)),
            stream_ttl_seconds=number("EVENTS_STREAM_TTL_SECONDS", base.stream_ttl_seconds),
            maintenance_seconds=number("EVENTS_MAINTENANCE_SECONDS", base.maintenance_seconds),
        )


ENV_NAMES = (
    "EVENTS_INLINE_LIMIT",
    "EVENTS_HOT_EVENTS",
    "EVENTS_SEGMENT_EVENTS",
    "EVENTS_RETENTION_SECONDS",
    "EVENTS_FRAME_BYTES",
    "EVENTS_STREAM_TTL_SECONDS",
    "EVENTS_MAINTENANCE_SECONDS",
)
