"""Cache settings, read from the same environment as `EdgeConfig` (wrangler vars, process env)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ConfigError

ENV_NAMES = (
    "CACHE_MAX_ENTRY_BYTES",
    "CACHE_VERSIONS_TTL_SECONDS",
    "CACHE_MAX_TTL_SECONDS",
    "CACHE_MAX_TAGS",
    "CACHE_MAX_INVALIDATE_TAGS",
)


@dataclass(frozen=True)
class CacheSettings:
    # Responses larger than this are served but not stored (`x-breakwater-cache: too-large`).
    max_entry_bytes: int = 5 * 1024 * 1024
    # How long an isolate may reuse tag versions it read from the TagVersions Durable Object. An
    # invalidation made through another isolate is seen here at most this late; one made through
    # this isolate (including a write) is seen at once.
    versions_ttl: float = 1.0
    # ttl and swr are each clamped to this.
    max_ttl: int = 30 * 24 * 3600
    # Tags per query (Accelerate allows 5) and per invalidation request.
    max_tags: int = 5
    max_invalidate_tags: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CacheSettings:
        defaults = cls()
        try:
            settings = cls(
                max_entry_bytes=int(env.get("CACHE_MAX_ENTRY_BYTES", defaults.max_entry_bytes)),
                versions_ttl=float(env.get("CACHE_VERSIONS_TTL_SECONDS", defaults.versions_ttl)),
                max_ttl=int(env.get("CACHE_MAX_TTL_SECONDS", defaults.max_ttl)),
                max_tags=int(env.get("CACHE_MAX_TAGS", defaults.max_tags)),
                max_invalidate_tags=int(env.get("CACHE_MAX_INVALIDATE_TAGS", defaults.max_invalidate_tags)),
            )
        except ValueError as exc:
            raise ConfigError(f"a CACHE_* setting is not a number: {exc}") from None
        if (
            min(settings.max_entry_bytes, settings.max_ttl, settings.max_tags, settings.max_invalidate_tags)
            < 1
        ):
            raise ConfigError("CACHE_* limits must be positive")
        if settings.versions_ttl < 0:
            raise ConfigError("CACHE_VERSIONS_TTL_SECONDS must not be negative")
        return settings
