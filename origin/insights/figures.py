"""Reading a database's statistics back for a window: one `ShapeFigures` per shape, the counters of
its buckets (buckets.py) added up."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from .buckets import ADDED, LATENCY_BOUNDS_MS, MAXED, Counters
from .notes import TTLS

WINDOWS = {  # name: (bucket width, length)
    "hour": (300, dt.timedelta(hours=1)),
    "day": (3600, dt.timedelta(days=1)),
    "week": (3600, dt.timedelta(days=7)),
}


@dataclass
class ShapeFigures(Counters):
    """A shape's figures over a window: its buckets' counters added up, and what it is."""

    shape: str
    protocol: str | None
    model: str | None
    action: str
    sql: str | None
    facts: dict[str, Any]
    first_seen: dt.datetime
    last_seen: dt.datetime
    skip_max: int = 0  # these three are the serving process's notes (notes.py)
    reads: int = 0
    would_hit: list[int] = field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        """The upper bound of the latency bucket holding the q-quantile (the max for the last)."""
        total = sum(self.latency)
        if not total:
            return None
        wanted, seen = q * total, 0
        for i, n in enumerate(self.latency):
            seen += n
            if seen >= wanted and n:
                bound = float(LATENCY_BOUNDS_MS[i]) if i < len(LATENCY_BOUNDS_MS) else self.duration_max
                return round(min(bound, self.duration_max), 3)
        return round(self.duration_max, 3)

    @property
    def avg_ms(self) -> float | None:
        return self.duration_ms / self.timed if self.timed else None

    @property
    def avg_rows(self) -> float | None:
        return self.rows / self.rows_known if self.rows_known else None

    def as_json(self) -> dict[str, Any]:
        served = self.calls + self.cache_hits + self.cache_stale
        return {
            "shape": self.shape,
            "protocol": self.protocol,
            "model": self.model,
            "action": self.action,
            "calls": self.calls,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "latency_ms": {
                "avg": _round(self.avg_ms),
                "p50": self.percentile(0.5),
                "p95": self.percentile(0.95),
                "p99": self.percentile(0.99),
                "max": _round(self.duration_max),
                "total": _round(self.duration_ms),
            },
            "rows": {"avg": _round(self.avg_rows), "max": self.rows_max, "counted_calls": self.rows_known},
            "bytes": {"total": self.bytes, "avg": round(self.bytes / self.calls) if self.calls else 0},
            "cache": {
                "hits": self.cache_hits,
                "stale": self.cache_stale,
                "shared": self.cache_shared,
                "misses": self.calls,
                "hit_ratio": round((self.cache_hits + self.cache_stale) / served, 4) if served else None,
            },
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# The notes' columns are read back too (notes.py writes them, the sink does not).
_SUMS = (*ADDED, "reads")
_MAXES = (*MAXED, "skip_max")


async def read(pool: asyncpg.Pool, database_id: str, window: str, now: dt.datetime) -> list[ShapeFigures]:
    width, length = WINDOWS[window]
    since = now - length
    sums = ", ".join(f"sum(b.{n}) AS {n}" for n in _SUMS)
    maxes = ", ".join(f"max(b.{n}) AS {n}" for n in _MAXES)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT s.shape, s.protocol, s.model, s.action, s.sql, s.facts, s.first_seen, s.last_seen, "
            f"{sums}, {maxes} FROM insight_shapes AS s JOIN insight_buckets AS b "
            "ON b.database_id = s.database_id AND b.shape = s.shape "
            "WHERE s.database_id = $1 AND b.width = $2 AND b.start > $3 "
            "GROUP BY s.shape, s.protocol, s.model, s.action, s.sql, s.facts, s.first_seen, s.last_seen",
            database_id,
            width,
            since - dt.timedelta(seconds=width),
        )
        arrays = await conn.fetch(
            "SELECT b.shape, 'latency' AS kind, h.i, sum(h.x) AS n FROM insight_buckets AS b, "
            "unnest(b.latency) WITH ORDINALITY AS h(x, i) "
            "WHERE b.database_id = $1 AND b.width = $2 AND b.start > $3 GROUP BY b.shape, h.i "
            "UNION ALL SELECT b.shape, 'would_hit', h.i, sum(h.x) FROM insight_buckets AS b, "
            "unnest(b.would_hit) WITH ORDINALITY AS h(x, i) "
            "WHERE b.database_id = $1 AND b.width = $2 AND b.start > $3 GROUP BY b.shape, h.i",
            database_id,
            width,
            since - dt.timedelta(seconds=width),
        )
    found: dict[str, ShapeFigures] = {}
    for r in rows:
        figures = ShapeFigures(
            r["shape"],
            r["protocol"],
            r["model"],
            r["action"],
            r["sql"],
            json.loads(r["facts"]) if isinstance(r["facts"], str) else dict(r["facts"]),
            r["first_seen"],
            r["last_seen"],
            latency=[0] * (len(LATENCY_BOUNDS_MS) + 1),
            would_hit=[0] * len(TTLS),
        )
        for name in (*_SUMS, *_MAXES):
            value = r[name] or 0
            setattr(figures, name, float(value) if name.startswith("duration") else int(value))
        found[r["shape"]] = figures
    for a in arrays:
        holder = found.get(a["shape"])
        target = None if holder is None else getattr(holder, a["kind"])
        if target is not None and 0 < a["i"] <= len(target):
            target[a["i"] - 1] = int(a["n"])
    return sorted(found.values(), key=lambda f: (f.duration_ms, f.calls), reverse=True)
