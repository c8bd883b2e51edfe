"""One time bucket of a shape's figures, as the control plane's `insight_buckets` holds them: the
bucket widths, the latency histogram's bounds, and the counters (`Counters`), one field list that the
sink (stats.py) adds to and the reader (figures.py) reads back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

WIDTHS = (300, 3600)  # seconds: 5-minute buckets for the last hour, hourly ones for a day and a week
FINEST = WIDTHS[0]  # every width is a multiple of it
KEEP = {300: dt.timedelta(hours=2), 3600: dt.timedelta(days=8)}
# Upper bounds of the latency histogram's buckets (ms); the last bucket is everything above.
LATENCY_BOUNDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)

Key = tuple[str, str, int, float]  # database, shape, width, bucket start (unix)


def bucket_start(unix: float, width: int) -> float:
    return unix - unix % width


@dataclass(kw_only=True)
class Counters:
    """What the sink counts per bucket: the columns of ADDED are added up, those of MAXED kept as
    maxima, `latency` is a histogram over LATENCY_BOUNDS_MS. (The serving process's notes add
    `skip_max`, `reads` and `would_hit` to the same rows: notes.py.)"""

    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    tx_expired: int = 0
    timed: int = 0
    duration_ms: float = 0.0
    duration_max: float = 0.0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    rows_known: int = 0
    rows: int = 0
    rows_max: int = 0
    bytes: int = 0
    bytes_max: int = 0
    cache_hits: int = 0
    cache_stale: int = 0
    cache_shared: int = 0
    cache_bytes: int = 0
    bursts: int = 0
    burst_calls: int = 0
    burst_max: int = 0


ADDED = (
    "calls",
    "errors",
    "timeouts",
    "tx_expired",
    "timed",
    "duration_ms",
    "rows_known",
    "rows",
    "bytes",
    "cache_hits",
    "cache_stale",
    "cache_shared",
    "cache_bytes",
    "bursts",
    "burst_calls",
)
MAXED = ("duration_max", "rows_max", "bytes_max", "burst_max")
FLOATS = frozenset({"duration_ms", "duration_max"})
