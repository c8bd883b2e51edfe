"""The recommendation rules: pure functions of a database's figures (figures.py), the plans of its
shapes (explain.py) and its catalog (catalog.py). Each returns recommendations with the evidence
that triggered them, the gain to expect and the fix. Thresholds are named here and listed in the
README ("Query insights"); a rule whose cause is gone (the index made, the window passed) is silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..engine.quoting import ident
from ..engine.quoting import table as qualified
from .catalog import Catalog, Index, Table
from .explain import Plan, Scan
from .figures import ShapeFigures
from .notes import TTLS

LARGE_TABLE_ROWS = 10_000  # a sequential scan over fewer rows is cheap enough
MANY_ROWS = 1_000  # a list without `take` returning this many rows on average
DEEP_SKIP = 1_000  # a `skip` this deep
MIN_CALLS = 5  # a shape seen fewer times is left alone by the frequency rules
MIN_READS_FOR_CACHE = 20
CACHE_HIT_RATIO = 0.5  # the least share of reads a ttl must have served
WIDE_COLUMN_BYTES = 1_000  # average stored width of a Json, Bytes or text column
WIDE_TYPES = ("json", "jsonb", "bytea", "text", "character varying")
IDLE_TRANSACTION_SECONDS = 5.0
LONG_TRANSACTION_SECONDS = 30.0
UNUSED_INDEX_TABLE_SCANS = 1_000  # the table was read this often and the index never


@dataclass
class Recommendation:
    rule: str
    title: str
    evidence: dict[str, Any]
    gain: str
    fix: str
    shape: str | None = None
    model: str | None = None
    action: str | None = None
    estimate: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "shape": self.shape,
            "model": self.model,
            "action": self.action,
            "evidence": self.evidence,
            "gain": self.gain,
            "estimate": self.estimate,
            "fix": self.fix,
        }


@dataclass
class Explained:
    """A shape's generic plan, the index proposed for its seq scan, and the plan with it (hypopg)."""

    plan: Plan
    scan: Scan | None = None
    proposal: Proposal | None = None
    after: Plan | None = None


@dataclass(frozen=True)
class Proposal:
    schema: str
    table: str
    columns: tuple[str, ...]  # each column, quoted, with DESC when the order wants it
    trigram: bool = False  # a LIKE '%…' filter: a GIN trigram index on one column

    @property
    def name(self) -> str:
        bare = [re.sub(r"[^A-Za-z0-9_]", "", c.replace(" DESC", "")) for c in self.columns]
        return (f"{self.table}_{'_'.join(bare)}_{'trgm' if self.trigram else 'idx'}")[:63]

    def statement(self, concurrently: bool = True) -> str:
        how = "CONCURRENTLY " if concurrently else ""
        target = qualified(self.schema, self.table)
        if self.trigram:
            return (
                f"CREATE INDEX {how}{ident(self.name)} ON {target} USING gin ({self.columns[0]} gin_trgm_ops)"
            )
        return f"CREATE INDEX {how}{ident(self.name)} ON {target} ({', '.join(self.columns)})"

    def hypothetical(self) -> str | None:
        """The statement hypopg takes (it has no GIN): None for a trigram index."""
        if self.trigram:
            return None
        return f"CREATE INDEX ON {qualified(self.schema, self.table)} ({', '.join(self.columns)})"


_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_COMPARISON = re.compile(rf"{_NAME}\.({_NAME})\s*(=|<>|<=|>=|<|>|~~\*|~~|!~~|IS\b)")
_SORT_KEY = re.compile(rf"^(?:{_NAME}\.)?({_NAME})(\s+DESC)?")


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def proposal(scan: Scan, table: Table, indexes: list[Index], wildcards: bool) -> Proposal | None:
    """The index that would let Postgres skip the scan: equality columns first, then one range or
    the order's columns. A leading-wildcard LIKE gets a trigram index instead."""
    equal: list[str] = []
    ranged: list[str] = []
    liked: list[str] = []
    for name, op in _COMPARISON.findall(scan.filter or ""):
        column = _unquote(name)
        if column not in table.columns:
            continue
        bucket = equal if op in ("=", "IS") else liked if "~~" in op else ranged
        if column not in bucket:
            bucket.append(column)
    ordered: list[str] = []
    for key in scan.sort_keys:
        found = _SORT_KEY.match(key.strip())
        if found and _unquote(found[1]) in table.columns:
            ordered.append(ident(_unquote(found[1])) + (" DESC" if found[2] else ""))
    if liked and wildcards and not equal:
        return Proposal(table.schema, table.name, (ident(liked[0]),), trigram=True)
    columns = [ident(c) for c in equal]
    if ranged:
        columns.append(ident(ranged[0]))
    elif scan.limited:
        columns += [c for c in ordered if c not in columns]
    if not columns:
        return None
    columns = columns[:3]
    if _covered(columns, table, indexes):
        return None
    return Proposal(table.schema, table.name, tuple(columns))


def _covered(columns: list[str], table: Table, indexes: list[Index]) -> bool:
    """An index on the table already leads with these columns (the planner chose the scan anyway)."""

    def bare(text: str) -> str:  # pg_get_indexdef quotes a name only when it must
        return text.replace(" DESC", "").replace('"', "")

    wanted = bare(", ".join(columns))
    for index in indexes:
        if index.schema == table.schema and index.table == table.name:
            listed = index.definition.split("(", 1)[-1].rsplit(")", 1)[0]
            if bare(listed).startswith(wanted):
                return True
    return False


# --- the rules ------------------------------------------------------------------------------------


def unindexed(f: ShapeFigures, explained: Explained, catalog: Catalog) -> list[Recommendation]:
    scan, proposed = explained.scan, explained.proposal
    if scan is None or proposed is None:
        return []
    table = catalog.table(scan.schema, scan.table)
    rows = table.rows if table else 0
    evidence: dict[str, Any] = {
        "calls": f.calls,
        "avg_ms": _r(f.avg_ms),
        "total_ms": _r(f.duration_ms),
        "plan": {
            "node": scan.node,
            "table": f"{scan.schema}.{scan.table}",
            "table_rows": rows,
            "filter": scan.filter,
            "sort": scan.sort_keys,
            "cost": explained.plan.cost,
        },
    }
    estimate: dict[str, Any] = {"cost_before": explained.plan.cost}
    if proposed.trigram:
        return [
            Recommendation(
                "leading_wildcard",
                f"`contains`/`endsWith` on {scan.table} scans all {rows} rows",
                evidence,
                "A LIKE pattern starting with % cannot use a btree index; a trigram index finds the "
                "matching rows without reading the table.",
                "CREATE EXTENSION IF NOT EXISTS pg_trgm; " + proposed.statement() + ";",
                f.shape,
                f.model,
                f.action,
                {**estimate, "hypopg": "hypopg cannot make GIN indexes: no cost after"},
            )
        ]
    if explained.after is not None:
        after = explained.after.cost
        estimate.update(
            cost_after=after,
            cost_ratio=round(after / explained.plan.cost, 4) if explained.plan.cost else None,
            uses_index=not explained.after.scans,
        )
        if explained.after.scans and after >= explained.plan.cost:
            return []  # Postgres would not use the index: not worth proposing
        saved = f.duration_ms * (1 - after / explained.plan.cost) if explained.plan.cost else 0.0
        estimate["time_saved_ms_in_window"] = _r(saved)
        gain = (
            f"Plan cost {explained.plan.cost:g} → {after:g} with the index (hypopg): "
            f"about {_percent(1 - after / explained.plan.cost)} less work per call."
        )
    else:
        gain = f"Each call reads all {rows} rows of {scan.table}; an index scan reads the matching ones."
        estimate["hypopg"] = "not available: no cost after"
    return [
        Recommendation(
            "unindexed_filter" if scan.filter else "unindexed_order",
            f"{f.model or scan.table}.{f.action} scans {scan.table} ({rows} rows) without an index",
            evidence,
            gain,
            proposed.statement() + ";",
            f.shape,
            f.model,
            f.action,
            estimate,
        )
    ]


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
                "avg_rows": _r(avg),
                "max_rows": f.rows_max,
                "avg_bytes": f.bytes // max(f.calls, 1),
            },
            f"A page of 100 rows would send about {_size(per_row * 100)} "
            f"instead of {_size(f.bytes / max(f.calls, 1))}.",
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
            f"With `cacheStrategy: {{ ttl: {ttl} }}` about {_percent(ratios[chosen])} of these reads would "
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
    found = re.search(rf"FROM ({_NAME})\.({_NAME})", f.sql)
    table = catalog.table(_unquote(found[1]), _unquote(found[2])) if found else None
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
            f"About {_size(sum(c.avg_width or 0 for c in wide))} per row less to read and send.",
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
                "max_ms": _r(f.duration_max),
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


def index_hygiene(catalog: Catalog) -> list[Recommendation]:
    found: list[Recommendation] = []
    by_table: dict[tuple[str, str], list[Index]] = {}
    for index in catalog.indexes:
        by_table.setdefault((index.schema, index.table), []).append(index)
    for (schema, name), indexes in by_table.items():
        table = catalog.table(schema, name)
        keys = [i for i in indexes if (i.unique or i.primary) and i.plain]
        for index in indexes:
            if index.unique or index.primary:
                continue
            twin = next((k for k in keys if index.plain and k.columns == index.columns), None)
            drop = f"DROP INDEX CONCURRENTLY {qualified(schema, index.name)};"
            if twin is not None:
                found.append(
                    Recommendation(
                        "duplicate_index",
                        f"Index {index.name} duplicates {twin.name}",
                        {"index": index.definition, "duplicates": twin.definition, "bytes": index.bytes},
                        f"{_size(index.bytes)} less to store and one index less to update on every write.",
                        drop,
                        estimate={"bytes": index.bytes},
                    )
                )
            elif (
                index.scans == 0
                and table is not None
                and table.seq_scans + table.index_scans >= UNUSED_INDEX_TABLE_SCANS
            ):
                found.append(
                    Recommendation(
                        "unused_index",
                        f"Index {index.name} was never used",
                        {
                            "index": index.definition,
                            "index_scans": 0,
                            "table_reads": table.seq_scans + table.index_scans,
                            "bytes": index.bytes,
                        },
                        f"{_size(index.bytes)} less to store and one index less to update on every write.",
                        drop,
                        estimate={"bytes": index.bytes},
                    )
                )
    return found


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _percent(share: float) -> str:
    return f"{max(0.0, share) * 100:.0f}%"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} TB"
