"""Statistics per database and query shape, added up in the control plane.

They ride on metering's exactly-once delivery: the insights sink is a second ledger sink
(metering/ledger.py), so one origin journal segment or one edge hit batch is added here in the
same control-plane transaction that counts it for usage, and every origin process's figures land
in the same rows. The hot path pays nothing more than metering's journal line.

Each observation is added to two buckets of its arrival time: a 5-minute one (the last hour) and
an hourly one (the last day and week), as `Figures` (the counters of buckets.py). N+1 bursts are
found here too (bursts.py), within a segment and across segments of the same process.
"""

from __future__ import annotations

import bisect
import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bwcontract.codes import Code
from bwcontract.usage import HIT, SHARED, STALE, HitCount

from ..observe import Observation
from .buckets import (
    ADDED,
    FINEST,
    FLOATS,
    KEEP,
    LATENCY_BOUNDS_MS,
    MAXED,
    WIDTHS,
    Counters,
    Key,
    bucket_start,
)
from .bursts import BURST_ACTIONS, Bursts

MAX_SHAPES = 500  # per database; more go to OTHER (raw SQL with literals makes a shape per value)
OTHER = "~other"
UNSHAPED = "~unshaped"  # an operation refused before the engine gave it a shape
CACHED_ONLY = "~cached"  # the action of a shape seen in the edge's hits before the origin's count
LAST_SEEN_SECONDS = 60.0  # a shape's last_seen is as precise as this


@dataclass
class Figures(Counters):
    """A bucket's counters as the sink adds them up: an observation at a time (`add`), or another
    bucket's (`merge`)."""

    def add(self, seen: Observation) -> None:
        self.calls += 1
        error = seen.error
        if error is not None:
            self.errors += 1
            if error == _TIMEOUT:
                self.timeouts += 1
            elif error == _TRANSACTION:
                self.tx_expired += 1
        duration = seen.duration_ms
        if duration is not None:
            self.timed += 1
            self.duration_ms += duration
            if duration > self.duration_max:
                self.duration_max = duration
            self.latency[bisect.bisect_left(LATENCY_BOUNDS_MS, duration)] += 1
        rows = seen.rows
        if rows is not None:
            self.rows_known += 1
            self.rows += rows
            if rows > self.rows_max:
                self.rows_max = rows
        size = seen.response_bytes
        self.bytes += size
        if size > self.bytes_max:
            self.bytes_max = size

    def merge(self, other: Figures) -> None:
        for name in ADDED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in MAXED:
            setattr(self, name, max(getattr(self, name), getattr(other, name)))
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]


_TIMEOUT = Code.QUERY_TIMEOUT.value
_TRANSACTION = Code.TRANSACTION.value


@dataclass
class ShapeSeen:
    protocol: str | None
    model: str | None
    action: str
    first: float
    last: float


def shape_of(seen: Observation) -> str:
    return seen.shape or UNSHAPED


def from_observations(
    observations: Iterable[Observation], tracker: Bursts | None = None
) -> tuple[dict[Key, Figures], dict[tuple[str, str], ShapeSeen]]:
    buckets: dict[Key, Figures] = {}
    shapes: dict[tuple[str, str], ShapeSeen] = {}
    runs: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for seen in observations:
        if seen.background:
            continue  # the edge refreshing its cache: no client asked
        shape = shape_of(seen)
        found = shapes.get((seen.database_id, shape))
        if found is None:
            shapes[(seen.database_id, shape)] = ShapeSeen(
                seen.protocol, seen.model, seen.action, seen.arrived_at, seen.arrived_at
            )
        else:
            found.first = min(found.first, seen.arrived_at)
            found.last = max(found.last, seen.arrived_at)
        # The finest buckets only; the wider ones are merged from them below (half the work).
        key = (seen.database_id, shape, FINEST, seen.arrived_at - seen.arrived_at % FINEST)
        figures = buckets.get(key)
        if figures is None:
            figures = buckets[key] = Figures()
        figures.add(seen)
        if seen.action in BURST_ACTIONS and seen.transaction is None and seen.shape:
            end = seen.arrived_at + (seen.duration_ms or 0.0) / 1000
            runs.setdefault((seen.database_id, seen.key_id, shape), []).append((seen.arrived_at, end))
    for (database_id, shape, _width, start), figures in list(buckets.items()):
        for width in WIDTHS[1:]:
            wider = (database_id, shape, width, bucket_start(start, width))
            total = buckets.get(wider)
            if total is None:
                buckets[wider] = total = Figures()
            total.merge(figures)
    tracker = tracker or Bursts()
    for run_key, calls in runs.items():
        database_id, _key_id, shape = run_key
        for at, started, added in tracker.feed(run_key, calls):
            length = tracker.length(run_key)
            for width in WIDTHS:
                figures = buckets[(database_id, shape, width, bucket_start(at, width))]
                figures.bursts += started
                figures.burst_calls += added
                figures.burst_max = max(figures.burst_max, length)
    return buckets, shapes


def from_hits(counts: Iterable[HitCount], now: float) -> dict[Key, Figures]:
    """The edge's answers from its cache, per shape. A hit batch carries the UTC day, not the time:
    they are put in the buckets of the moment the batch is counted (the edge reports within
    seconds), or at the day's last second for a batch of an earlier day."""
    buckets: dict[Key, Figures] = {}
    for count in counts:
        day_end = dt.datetime.combine(dt.date.fromisoformat(count.day), dt.time.max, dt.UTC).timestamp()
        at = min(now, day_end)
        for width in WIDTHS:
            key = (count.database_id, count.shape or UNSHAPED, width, bucket_start(at, width))
            figures = buckets.get(key)
            if figures is None:
                figures = buckets[key] = Figures()
            if count.kind == HIT:
                figures.cache_hits += count.count
            elif count.kind == STALE:
                figures.cache_stale += count.count
            elif count.kind == SHARED:
                figures.cache_shared += count.count
            figures.cache_bytes += count.bytes
    return buckets


def add_arrays(name: str) -> str:
    """`b.name + EXCLUDED.name` element by element (the shorter padded with zeros)."""
    return (
        f"{name} = ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0) "
        f"FROM unnest(b.{name}, EXCLUDED.{name}) AS pair(x, y))"
    )


async def add_buckets(conn: asyncpg.Connection, buckets: dict[Key, Figures]) -> None:
    if not buckets:
        return
    keys = list(buckets)
    names = (*ADDED, *MAXED)
    columns: list[list[Any]] = [
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [dt.datetime.fromtimestamp(k[3], dt.UTC) for k in keys],
    ]
    columns += [[getattr(buckets[k], n) for k in keys] for n in names]
    # Arrays of arrays must be rectangular: each histogram travels as text and is split back.
    columns.append([",".join(map(str, buckets[k].latency)) for k in keys])
    types = ["text", "text", "int4", "timestamptz"]
    types += ["float8" if n in FLOATS else "int8" for n in names]
    types.append("text")
    await _insert(conn, names, types, columns)


async def _insert(
    conn: asyncpg.Connection, names: Sequence[str], types: Sequence[str], columns: list[list[Any]]
) -> None:
    placeholders = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    listed = ", ".join(names)
    await conn.execute(
        f"INSERT INTO insight_buckets AS b (database_id, shape, width, start, {listed}, latency) "
        f"SELECT database_id, shape, width, start, {listed}, string_to_array(hist, ',')::bigint[] "
        f"FROM unnest({placeholders}) AS u(database_id, shape, width, start, {listed}, hist) "
        "ON CONFLICT (database_id, shape, width, start) DO UPDATE SET "
        + ", ".join(f"{n} = b.{n} + EXCLUDED.{n}" for n in ADDED)
        + ", "
        + ", ".join(f"{n} = greatest(b.{n}, EXCLUDED.{n})" for n in MAXED)
        + ", "
        + add_arrays("latency"),
        *columns,
    )


async def admitted(
    conn: asyncpg.Connection, shapes: dict[tuple[str, str], ShapeSeen]
) -> dict[tuple[str, str], str]:
    """Record the shapes seen (first and last seen, model, action) and map each to the shape its
    figures go under: itself, or OTHER once its database has MAX_SHAPES shapes."""
    mapping: dict[tuple[str, str], str] = {}
    by_database: dict[str, list[str]] = {}
    for database_id, shape in shapes:
        by_database.setdefault(database_id, []).append(shape)
    for database_id, wanted in by_database.items():
        known = {
            r["shape"]
            for r in await conn.fetch(
                "SELECT shape FROM insight_shapes WHERE database_id = $1 AND shape = ANY($2::text[])",
                database_id,
                wanted,
            )
        }
        room = MAX_SHAPES - int(
            await conn.fetchval("SELECT count(*) FROM insight_shapes WHERE database_id = $1", database_id)
        )
        for shape in wanted:
            if shape in known or shape == OTHER:
                mapping[(database_id, shape)] = shape
            elif room > 0:
                room -= 1
                mapping[(database_id, shape)] = shape
            else:
                mapping[(database_id, shape)] = OTHER
    rows: dict[tuple[str, str], ShapeSeen] = {}
    for (database_id, shape), seen in shapes.items():
        target = mapping[(database_id, shape)]
        if target == OTHER:
            seen = ShapeSeen(None, None, "~other", seen.first, seen.last)
        merged = rows.get((database_id, target))
        if merged is None:
            rows[(database_id, target)] = seen
        else:
            merged.first, merged.last = min(merged.first, seen.first), max(merged.last, seen.last)
    keys = list(rows)
    await conn.execute(
        "INSERT INTO insight_shapes AS s "
        "(database_id, shape, protocol, model, action, first_seen, last_seen) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
        "$6::timestamptz[], $7::timestamptz[]) "
        "ON CONFLICT (database_id, shape) DO UPDATE SET "
        "first_seen = least(s.first_seen, EXCLUDED.first_seen), "
        "last_seen = greatest(s.last_seen, EXCLUDED.last_seen), "
        "protocol = coalesce(s.protocol, EXCLUDED.protocol), model = coalesce(s.model, EXCLUDED.model), "
        f"action = CASE WHEN s.action = '{CACHED_ONLY}' THEN EXCLUDED.action ELSE s.action END",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [rows[k].protocol for k in keys],
        [rows[k].model for k in keys],
        [rows[k].action for k in keys],
        [dt.datetime.fromtimestamp(rows[k].first, dt.UTC) for k in keys],
        [dt.datetime.fromtimestamp(rows[k].last, dt.UTC) for k in keys],
    )
    return mapping


def regrouped(buckets: dict[Key, Figures], mapping: dict[tuple[str, str], str]) -> dict[Key, Figures]:
    """Figures of shapes over the cap merged under OTHER."""
    out: dict[Key, Figures] = {}
    for (database_id, shape, width, start), figures in buckets.items():
        target = mapping.get((database_id, shape), shape)
        key = (database_id, target, width, start)
        found = out.get(key)
        if found is None:
            out[key] = figures
            continue
        found.merge(figures)
    return out


class InsightStats:
    """The ledger sink adding insights' figures (see the module's docstring)."""

    KNOWN_LIMIT = 20_000  # shapes this process remembers having recorded

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._bursts = Bursts()
        # Shapes this process recorded (under their own id), with the last_seen it wrote: a batch of
        # only those costs one statement, and last_seen is written again at most every minute.
        self._known: dict[tuple[str, str], float] = {}
        self.enabled = True

    async def observed(self, conn: asyncpg.Connection, observations: Sequence[Observation]) -> None:
        if not self.enabled:
            return
        buckets, shapes = from_observations(observations, self._bursts)
        await self._add(conn, buckets, shapes)

    async def _add(
        self, conn: asyncpg.Connection, buckets: dict[Key, Figures], shapes: dict[tuple[str, str], ShapeSeen]
    ) -> None:
        known = self._known
        fresh = {
            k: v for k, v in shapes.items() if v.last - known.get(k, -LAST_SEEN_SECONDS) >= LAST_SEEN_SECONDS
        }
        mapping = {k: k[1] for k in shapes}
        if fresh:
            mapping.update(await admitted(conn, fresh))
            if len(known) > self.KNOWN_LIMIT:
                known.clear()
            for k, v in fresh.items():
                if mapping[k] == k[1] and v.action != CACHED_ONLY:
                    known[k] = v.last
        await add_buckets(conn, regrouped(buckets, mapping))

    async def hits(self, conn: asyncpg.Connection, counts: Sequence[HitCount]) -> None:
        if not self.enabled:
            return
        now = self._clock()
        buckets = from_hits(counts, now)
        # A hit batch may be counted before the journal segment of the miss that filled the cache:
        # its shape is recorded now, and the origin's observation names its model and action later.
        shapes = {(k[0], k[1]): ShapeSeen(None, None, CACHED_ONLY, now, now) for k in buckets}
        await self._add(conn, buckets, shapes)


async def prune(pool: asyncpg.Pool, now: dt.datetime) -> None:
    """Drop buckets past their window and shapes unseen for a week and a day."""
    async with pool.acquire() as conn:
        for width, keep in KEEP.items():
            await conn.execute(
                "DELETE FROM insight_buckets WHERE width = $1 AND start < $2", width, now - keep
            )
        await conn.execute("DELETE FROM insight_shapes WHERE last_seen < $1", now - KEEP[3600])
