"""The client's cache strategy and what it makes of a cached entry's age.

Prisma's Accelerate extension encodes `cacheStrategy: {ttl, swr, tags}` as
`cache-control: max-age=<ttl>[,stale-while-revalidate=<swr>]` plus `accelerate-cache-tags`; our Python
client and curl send the same. `no-cache` (or no header) means the query is not cached.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bwcontract.codes import Code

from ..errors import EdgeError
from . import tags as tagging
from .settings import CacheSettings


@dataclass(frozen=True)
class Strategy:
    ttl: int  # seconds an entry is served as fresh
    swr: int  # seconds after that it is served stale while it is refreshed in the background
    tags: tuple[str, ...]  # client tags, validated, sorted

    @property
    def lifetime(self) -> int:
        """How long the Cache API needs to keep the entry."""
        return self.ttl + self.swr


class Outcome(enum.Enum):
    TTL = "ttl"  # fresh: served from the cache
    SWR = "swr"  # stale but within swr: served, and refreshed in the background
    MISS = "miss"  # too old (or absent): the origin answers


def parse(cache_control: str | None, tags_header: str | None, settings: CacheSettings) -> Strategy | None:
    """The strategy of a request, or None when it does not ask to be cached."""
    if not cache_control:
        return None
    ttl: int | None = None
    swr: int | None = None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-cache", "no-store"):
            return None
        if name == "max-age":
            ttl = _seconds(name, value, settings)
        elif name == "stale-while-revalidate":
            swr = _seconds(name, value, settings)
        # Other directives (public, private, …) mean nothing to a query cache; ignore them.
    if ttl is None and swr is None:
        return None
    strategy = Strategy(ttl or 0, swr or 0, tagging.from_header(tags_header, settings.max_tags))
    return strategy if strategy.lifetime > 0 else None


def _seconds(name: str, raw: str, settings: CacheSettings) -> int:
    text = raw.strip().strip('"')
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise EdgeError(
            Code.CACHE_CONTROL,
            f"cache-control {name}={raw!r} is not a whole number of seconds.",
            "Send `cache-control: max-age=<ttl>[,stale-while-revalidate=<swr>]`, or `no-cache`.",
        )
    return min(int(text), settings.max_ttl)


def outcome(age: float, strategy: Strategy) -> Outcome:
    """Fresh / stale / too old, for an entry produced `age` seconds ago (clock skew counts as fresh)."""
    age = max(age, 0.0)
    if age < strategy.ttl:
        return Outcome.TTL
    if age < strategy.lifetime:
        return Outcome.SWR
    return Outcome.MISS
