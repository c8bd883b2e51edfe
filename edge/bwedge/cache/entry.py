"""A cached query response, stored in the Cache API as a GET response under a synthetic URL.

The Cache API only keys on GET requests and honours the stored response's `cache-control`, so an
entry is the origin's response (status, headers, body byte for byte) plus our metadata in one
header, with `cache-control: max-age=<ttl + swr>` telling the Cache API when to drop it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..http import EdgeResponse, Headers

META_HEADER = "x-breakwater-cache-meta"
CACHE_PATH = "/_bw/cache/"
# Headers that describe one exchange, not the answer; never stored, and dropped from what the Cache
# API hands back (Cloudflare adds cf-cache-status and age to matches).
_NOT_STORED = frozenset(
    {"x-request-id", "set-cookie", "cache-control", "expires", "age", "cf-cache-status", "date", "vary"}
)


@dataclass(frozen=True)
class CacheEntry:
    status: int
    headers: Headers
    body: bytes
    produced_at: float  # unix seconds, when the origin answered
    models: dict[str, int] = field(default_factory=dict)  # model tag -> version when produced


def cache_url(request_url: str, key: str) -> str:
    """The synthetic GET URL of a key, on the request's own host (the Worker's zone)."""
    return url_on(urlsplit(request_url).netloc, key)


def url_on(host: str, key: str) -> str:
    """`cache_url` for a request whose host is known already."""
    return f"https://{host or 'edge.invalid'}{CACHE_PATH}{key}"


def encode(entry: CacheEntry, lifetime: int) -> EdgeResponse:
    headers = Headers((n, v) for n, v in entry.headers.items() if n.lower() not in _NOT_STORED)
    meta = {"p": entry.produced_at, "m": entry.models}
    headers[META_HEADER] = json.dumps(meta, separators=(",", ":"), sort_keys=True)
    headers["cache-control"] = f"max-age={max(lifetime, 1)}"
    return EdgeResponse(entry.status, headers, entry.body)


def decode(stored: EdgeResponse) -> CacheEntry | None:
    """The entry in a Cache API match, or None if it is not one of ours (or is damaged)."""
    raw = stored.headers.get(META_HEADER)
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
        produced_at = float(meta["p"])
        models = {str(k): int(v) for k, v in dict(meta["m"]).items()}
    except (ValueError, KeyError, TypeError):
        return None
    headers = Headers(
        (n, v) for n, v in stored.headers.items() if n.lower() not in _NOT_STORED and n.lower() != META_HEADER
    )
    return CacheEntry(stored.status, headers, stored.body, produced_at, models)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float) -> str:
    """`last-modified` format (what `withAccelerateInfo()` parses with `new Date(...)`); written out
    here rather than importing `email.utils`, which the Worker would load at every cold start."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
