"""What only the process that ran an operation can know, noted on the hot path and flushed to the
control plane in the background: the engine's SQL of a shape (value-free), a few facts about the
query (take, skip, a leading wildcard), how deep `skip` went, how many rows a list returned (sampled:
counting needs the JSON parsed), and which reads repeated exactly.

Values never leave the process and are never kept: a read's values are reduced to Python's salted
`hash()` of their repr (per process, not reproducible elsewhere), used only to see that two reads
were identical. With it the process replays its own arrivals against an imaginary edge cache entry
for each ttl of `TTLS` (an entry made by a miss, serving identical reads until it expires) and
counts the reads each ttl would have served. Across processes the figures add up; reads that
repeat across two processes are not matched (a lower bound).

Flushing is at most once and may lose the last seconds of a killed process: these figures feed
recommendations, not bills.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bwservice.tasks import cancel_and_wait

from ..engine.outcome import Outcome
from ..engine.request import JsonQuery
from .buckets import WIDTHS, bucket_start

log = logging.getLogger("breakwater.insights")

TTLS = (1, 5, 10, 30, 60, 300)  # seconds: the cache entries a repeated read is replayed against
_TTL_INDEX = tuple(enumerate(TTLS))
READS = frozenset(
    {
        "findUnique",
        "findUniqueOrThrow",
        "findFirst",
        "findFirstOrThrow",
        "findMany",
        "count",
        "aggregate",
        "groupBy",
    }
)
MAX_NOTED_SHAPES = 5000  # per process; past it new shapes are not noted until a flush empties it
MAX_REMEMBERED_READS = 20_000  # distinct (database, shape, values) whose last misses are kept
MAX_VALUES = 64  # reads with more values than this are not compared (their repr is not cheap)
SAMPLE_FIRST = 4  # a list's rows are counted for its first calls, then one call in SAMPLE_EVERY
SAMPLE_EVERY = 32
GIVE_UP_TRIES = 30  # flushes a shape's SQL waits for its row (metering counts it within seconds)


@dataclass(slots=True)
class Note:
    model: str | None
    action: str
    sql: str | None
    facts: dict[str, Any]
    persisted: bool = False
    tries: int = 0  # flushes that found no row for it yet (a shape over the cap never gets one)
    calls: int = 0
    skip_max: int = 0
    rows_known: int = 0
    rows: int = 0
    rows_max: int = 0
    reads: int = 0
    would_hit: list[int] = field(default_factory=lambda: [0] * len(TTLS))

    def dirty(self) -> bool:
        return bool(not self.persisted or self.skip_max or self.rows_known or self.reads)

    def clear(self) -> None:
        self.skip_max = self.rows_known = self.rows = self.rows_max = self.reads = 0
        self.would_hit = [0] * len(TTLS)


def facts_of(query: JsonQuery) -> dict[str, Any]:
    """Facts of the shape, from the query's arguments (their presence: values are not kept)."""
    args = query.arguments
    return {
        "take": "take" in args,
        "skip": "skip" in args,
        "cursor": "cursor" in args,
        "select": "selection" in query.body and not _selects_all(query.body.get("selection")),
        "leading_wildcard": sorted(_leading_wildcards(args.get("where"), "")),
    }


def _selects_all(selection: Any) -> bool:
    return not isinstance(selection, dict) or bool(selection.get("$scalars"))


def _leading_wildcards(where: Any, path: str) -> set[str]:
    """Fields filtered with `contains` or `endsWith` (a LIKE pattern that starts with %)."""
    found: set[str] = set()
    if isinstance(where, dict):
        for name, value in where.items():
            if name in ("contains", "endsWith") and path:
                found.add(path)
            elif isinstance(value, dict | list):
                inner = path if name in ("AND", "OR", "NOT", "not") else name
                found |= _leading_wildcards(value, inner)
    elif isinstance(where, list):
        for item in where:
            found |= _leading_wildcards(item, path)
    return found


def _skip(query: JsonQuery) -> int:
    value = query.arguments.get("skip")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Notes:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._notes: dict[tuple[str, str], Note] = {}
        self._last_miss: dict[tuple[str, str, int], list[float]] = {}
        self._pool: asyncpg.Pool | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.enabled = True

    def note(self, database_id: str, query: JsonQuery, outcome: Outcome) -> None:
        """Called once per operation the engine ran (fronts/operations.py): must stay cheap."""
        if not self.enabled or outcome.shape is None:
            return
        key = (database_id, outcome.shape)
        note = self._notes.get(key)
        if note is None:
            if len(self._notes) >= MAX_NOTED_SHAPES:
                return
            note = self._notes[key] = Note(query.model, query.action, outcome.sql, facts_of(query))
        note.calls += 1
        if note.facts["skip"]:
            note.skip_max = max(note.skip_max, _skip(query))
        if outcome.rows is None and (note.calls <= SAMPLE_FIRST or note.calls % SAMPLE_EVERY == 0):
            rows = _count_rows(outcome.json)
            if rows is not None:
                note.rows_known += 1
                note.rows += rows
                note.rows_max = max(note.rows_max, rows)
        if query.action in READS:
            self._replay(database_id, outcome.shape, query, note)

    def _replay(self, database_id: str, shape: str, query: JsonQuery, note: Note) -> None:
        arguments = query.arguments
        if len(arguments) > MAX_VALUES:
            return
        now = self._clock()
        key = (database_id, shape, hash(repr(arguments)))
        remembered = self._last_miss
        misses = remembered.get(key)
        note.reads += 1
        if misses is None:
            remembered[key] = [now] * len(TTLS)
            if len(remembered) > MAX_REMEMBERED_READS:
                del remembered[next(iter(remembered))]  # the longest remembered goes first
            return
        would_hit = note.would_hit
        for i, ttl in _TTL_INDEX:
            if now - misses[i] < ttl:
                would_hit[i] += 1
            else:
                misses[i] = now  # a miss: the entry is made again

    # --- flushing --------------------------------------------------------------------------------

    def start(self, pool: asyncpg.Pool, every: float) -> None:
        self._pool = pool
        self._task = asyncio.create_task(self._loop(every))

    async def _loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.flush()
            except Exception as exc:
                log.warning("insights notes could not be flushed", extra={"fields": {"error": str(exc)}})

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout=5)

    async def flush(self) -> None:
        """Write the shapes' SQL and facts (once, when the shape's row exists) and add the figures
        noted since the last flush to the current buckets."""
        if self._pool is None:
            return
        async with self._lock:
            dirty = [(key, note) for key, note in self._notes.items() if note.dirty()]
            if not dirty:
                return
            now = self._clock()
            async with self._pool.acquire() as conn, conn.transaction():
                fresh = [(k, n) for k, n in dirty if not n.persisted]
                if fresh:
                    stored = await conn.fetch(
                        "UPDATE insight_shapes AS s SET sql = u.sql, facts = u.facts::jsonb "
                        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
                        "AS u(database_id, shape, sql, facts) "
                        "WHERE s.database_id = u.database_id AND s.shape = u.shape "
                        "RETURNING s.database_id, s.shape",
                        [k[0] for k, _ in fresh],
                        [k[1] for k, _ in fresh],
                        [n.sql for _, n in fresh],
                        [json.dumps(n.facts) for _, n in fresh],
                    )
                    for row in stored:
                        self._notes[(row["database_id"], row["shape"])].persisted = True
                    for _key, note in fresh:
                        note.tries += 1
                        note.persisted = note.persisted or note.tries >= GIVE_UP_TRIES
                # Only for shapes whose row exists: metering may not have counted the first call yet.
                figures = [
                    (k, n) for k, n in dirty if n.persisted and (n.skip_max or n.rows_known or n.reads)
                ]
                if figures:
                    await _add(conn, figures, now)
            for _key, note in figures:
                note.clear()
            # Notes of shapes gone quiet are dropped once written (a shape noted again starts anew).
            if len(self._notes) > MAX_NOTED_SHAPES // 2:
                for key in [k for k, n in self._notes.items() if n.persisted and not n.dirty()]:
                    del self._notes[key]


def _count_rows(text: str) -> int | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return len(value) if isinstance(value, list) else None


async def _add(conn: asyncpg.Connection, figures: list[tuple[tuple[str, str], Note]], now: float) -> None:
    rows = [(k, n, w) for k, n in figures for w in WIDTHS]
    await conn.execute(
        "INSERT INTO insight_buckets AS b (database_id, shape, width, start, skip_max, rows_known, rows, "
        "rows_max, reads, would_hit) "
        "SELECT u.database_id, u.shape, u.width, u.start, u.skip_max, u.rows_known, u.rows, u.rows_max, "
        "u.reads, string_to_array(u.hits, ',')::bigint[] "
        "FROM unnest($1::text[], $2::text[], $3::int4[], $4::timestamptz[], $5::int8[], $6::int8[], "
        "$7::int8[], $8::int8[], $9::int8[], $10::text[]) "
        "AS u(database_id, shape, width, start, skip_max, rows_known, rows, rows_max, reads, hits) "
        "WHERE EXISTS (SELECT 1 FROM insight_shapes AS s "
        "WHERE s.database_id = u.database_id AND s.shape = u.shape) "
        "ON CONFLICT (database_id, shape, width, start) DO UPDATE SET "
        "skip_max = greatest(b.skip_max, EXCLUDED.skip_max), "
        "rows_known = b.rows_known + EXCLUDED.rows_known, "
        "rows = b.rows + EXCLUDED.rows, rows_max = greatest(b.rows_max, EXCLUDED.rows_max), "
        "reads = b.reads + EXCLUDED.reads, would_hit = ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0) "
        "FROM unnest(b.would_hit, EXCLUDED.would_hit) AS pair(x, y))",
        [k[0] for k, _, _ in rows],
        [k[1] for k, _, _ in rows],
        [w for _, _, w in rows],
        [dt.datetime.fromtimestamp(bucket_start(now, w), dt.UTC) for _, _, w in rows],
        [n.skip_max for _, n, _ in rows],
        [n.rows_known for _, n, _ in rows],
        [n.rows for _, n, _ in rows],
        [n.rows_max for _, n, _ in rows],
        [n.reads for _, n, _ in rows],
        [",".join(map(str, n.would_hit)) for _, n, _ in rows],
    )
