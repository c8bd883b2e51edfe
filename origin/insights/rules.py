"""The recommendation rules: pure functions of a database's figures (figures.py), the plans of its
shapes (explain.py) and its catalog (catalog.py). Each returns recommendations with the evidence
that triggered them, the gain to expect and the fix (recommendations.py). These are the rules of a
shape's figures; the index rules are indexrules.py. Thresholds are named with their rules and listed in the
README ("Query insights"); a rule whose cause is gone (the index made, the window passed) is silent.
"""

from __future__ import annotations

import re

from .catalog import Catalog
from .figures import ShapeFigures
from .notes import TTLS
from .proposals import NAME, unquote
from .recommendations import Recommendation, byte_size, percent, round3

MANY_ROWS = 1_000  # a list without `take` returning this many rows on average
DEEP_SKIP = 1_000  # a `skip` this deep
MIN_CALLS = 5  # a shape seen fewer times is left alone by the frequency rules
MIN_READS_FOR_CACHE = 20
CACHE_HIT_RATIO = 0.5  # the least share of reads a ttl must have served
WIDE_COLUMN_BYTES = 1_000  # average stored width of a Json, Bytes or text column
WIDE_TYPES = ("json", "jsonb", "bytea", "text", "character varying")
IDLE_TRANSACTION_SECONDS = 5.0
LONG_TRANSACTION_SECONDS = 30.0


def many_rows(f: ShapeFigures) -> list[Recommendation]:
    avg = f.avg_rows
    if f.action != "findMany" or f.facts.get("take") or avg is None or avg < MANY_ROWS or f.calls < 1:
        return []
    per_row = f.bytes / f.calls / avg if f.calls and avg else 0
    return [
        Recommendation(
            "unbounded_read",
            f"{f.model}.findMany returns {avg:.0f} rows per call without `take`",
            {
                "calls": f.calls,
                "avg_rows": round3(avg),
                "max_rows": f.rows_max,
                "avg_bytes": f.bytes // max(f.calls, 1),
            },
            f"A page of 100 rows would send about {byte_size(per_row * 100)} "
            f"instead of {byte_size(f.bytes / max(f.calls, 1))}.",
            "Add `take` (and paginate with `cursor`), or narrow `where`.",
            f.shape,
            f.model,
            f.action,
            {"avg_bytes_per_row": round(per_row)},
        )
    ]


def deep_skip(f: ShapeFigures) -> list[Recommendation]:
    if f.skip_max < DEEP_SKIP:
        return []
    return [
        Recommendation(
            "deep_skip",
            f"{f.model}.{f.action} pages with `skip` up to {f.skip_max}",
            {"calls": f.calls, "max_skip": f.skip_max, "p95_ms": f.percentile(0.95)},
            f"Postgres reads and throws away {f.skip_max} rows before the page; a cursor starts at the page.",
            "Use cursor pagination: `cursor: { id: lastId }, skip: 1, take: N` ordered by a unique column.",
            f.shape,
            f.model,
            f.action,
            {"rows_discarded_max": f.skip_max},
        )
    ]


def n_plus_one(f: ShapeFigures) -> list[Recommendation]:
    if f.bursts < 1:
        return []
    saved = f.burst_calls - f.bursts
    return [
        Recommendation(
            "n_plus_one",
            f"{f.model}.{f.action} runs in bursts of up to {f.burst_max} calls from one client",
            {
                "bursts": f.bursts,
                "calls_in_bursts": f.burst_calls,
                "largest_burst": f.burst_max,
                "calls": f.calls,
            },
            f"About {saved} round trips fewer: one query per burst instead of one per record.",
            "Load the records with the parent query (`include: { relation: true }`), or in one "
            "`findMany({ where: { key: { in: keys } } })`.",
            f.shape,
            f.model,
            f.action,
            {"round_trips_saved": saved},
        )
    ]


def cacheable(f: ShapeFigures) -> list[Recommendation]:
    if f.reads < MIN_READS_FOR_CACHE or f.cache_hits + f.cache_stale > 0 or not f.would_hit:
        return []
    ratios = [hits / f.reads for hits in f.would_hit]
    best = max(ratios)
    if best < CACHE_HIT_RATIO:
        return []
    # The shortest ttl that gets most of what the longest would (shorter: fresher answers).
    chosen = next(i for i, r in enumerate(ratios) if r >= best * 0.9)
    ttl = TTLS[chosen]
    return [
        Recommendation(
            "cacheable_read",
            f"{f.model}.{f.action} repeats identical reads that a cache would answer",
            {
                "reads": f.reads,
                "would_hit": {str(t): h for t, h in zip(TTLS, f.would_hit, strict=True)},
                "edge_cache_hits": 0,
            },
            f"With `cacheStrategy: {{ ttl: {ttl} }}` about {percent(ratios[chosen])} of these reads would "
            "have been answered by the edge, without the database.",
            f"Add `cacheStrategy: {{ ttl: {ttl} }}` to this query (and `tags` to invalidate on writes).",
            f.shape,
            f.model,
            f.action,
            {"ttl": ttl, "hit_ratio": round(ratios[chosen], 4)},
        )
    ]


def over_fetching(f: ShapeFigures, catalog: Catalog) -> list[Recommendation]:
    if f.facts.get("select", True) or f.calls < MIN_CALLS or not f.sql or f.action not in _LIST_READS:
        return []
    found = re.search(rf"FROM ({NAME})\.({NAME})", f.sql)
    table = catalog.table(unquote(found[1]), unquote(found[2])) if found else None
    if table is None:
        return []
    wide = [
        c
        for c in table.columns.values()
        if c.avg_width is not None and c.avg_width >= WIDE_COLUMN_BYTES and c.type.startswith(WIDE_TYPES)
    ]
    if not wide:
        return []
    names = [c.name for c in wide]
    return [
        Recommendation(
            "over_fetching",
            f"{f.model}.{f.action} reads every column of {table.name}, {', '.join(names)} included",
            {
                "calls": f.calls,
                "avg_bytes": f.bytes // f.calls,
                "columns": {c.name: {"type": c.type, "avg_width": c.avg_width} for c in wide},
            },
            f"About {byte_size(sum(c.avg_width or 0 for c in wide))} per row less to read and send.",
            "Leave them out: `omit: { "
            + ", ".join(f"{n}: true" for n in names)
            + " }` or a `select` of the fields used.",
            f.shape,
            f.model,
            f.action,
            {"bytes_per_row_saved": sum(c.avg_width or 0 for c in wide)},
        )
    ]


_LIST_READS = frozenset({"findMany", "findFirst", "findFirstOrThrow", "findUnique", "findUniqueOrThrow"})


def timeouts(f: ShapeFigures) -> list[Recommendation]:
    if f.timeouts < 1:
        return []
    return [
        Recommendation(
            "timeouts",
            f"{f.model or f.action}.{f.action} ran past the query timeout {f.timeouts} times",
            {
                "timeouts": f.timeouts,
                "calls": f.calls,
                "max_ms": round3(f.duration_max),
                "p95_ms": f.percentile(0.95),
            },
            "These calls failed with P6004 after holding a connection for the whole timeout.",
            "Make the query cheaper (see an index recommendation for this shape, add `take`), or raise "
            "the database's `query_timeout_ms` (`breakwater db limits`).",
            f.shape,
            f.model,
            f.action,
        )
    ]


def transactions(figures: list[ShapeFigures], catalog: Catalog) -> list[Recommendation]:
    expired = sum(f.tx_expired for f in figures)
    idle = [t for t in catalog.transactions if t.idle_seconds >= IDLE_TRANSACTION_SECONDS]
    long = [t for t in catalog.transactions if t.age_seconds >= LONG_TRANSACTION_SECONDS]
    if not (expired or idle or long):
        return []
    return [
        Recommendation(
            "long_transactions",
            "Interactive transactions stay open too long",
            {
                "expired_operations": expired,
                "idle_in_transaction_now": [round(t.idle_seconds, 1) for t in idle],
                "open_longer_than_30s_now": [round(t.age_seconds, 1) for t in long],
            },
            "An open transaction holds a connection and its locks, and keeps vacuum from removing dead rows.",
            "Do no network calls or user waits inside `$transaction`; keep it to the queries, "
            "or use a batch `$transaction([...])`; set its `timeout`.",
        )
    ]
