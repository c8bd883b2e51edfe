"""Statistics and notes without the stack: bursts, buckets, the shape cap, identical reads replayed
against ttls, index proposals from plan nodes."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from bwcontract.usage import HIT, SHARED, HitCount
from origin.control.migrate import migrate
from origin.engine.outcome import Outcome
from origin.engine.request import JsonQuery
from origin.insights import bursts, figures, notes, proposals, stats
from origin.insights.catalog import Column, Index, Table
from origin.insights.explain import Scan
from origin.observe import Observation

T0 = 1_800_000_000.0  # a bucket boundary for both widths


def seen(at: float, shape: str = "s1", key: str = "k1", **more: object) -> Observation:
    values: dict[str, object] = {
        "database_id": "db1",
        "key_id": key,
        "protocol": "v1",
        "model": "User",
        "action": "findUnique",
        "shape": shape,
        "duration_ms": 2.0,
        "rows": 1,
        "response_bytes": 100,
        "error": None,
        "transaction": None,
        "arrived_at": at,
    }
    values.update(more)
    return Observation(**values)  # type: ignore[arg-type]


def test_a_loop_of_calls_is_one_burst_and_a_batch_or_slow_calls_are_none() -> None:
    loop = [seen(T0 + i * 0.01) for i in range(12)]
    buckets, _ = stats.from_observations(loop)
    hourly = buckets[("db1", "s1", 3600, T0)]
    assert (hourly.bursts, hourly.burst_calls, hourly.burst_max) == (1, 12, 12)
    batch = [seen(T0) for _ in range(12)]  # one request: the same arrival
    assert stats.from_observations(batch)[0][("db1", "s1", 3600, T0)].bursts == 0
    spaced = [seen(T0 + i * 0.3) for i in range(12)]
    assert stats.from_observations(spaced)[0][("db1", "s1", 3600, T0)].bursts == 0
    two_keys = [seen(T0 + i * 0.01, key=f"k{i % 2}") for i in range(12)]
    assert stats.from_observations(two_keys)[0][("db1", "s1", 3600, T0)].bursts == 0


def test_a_burst_split_between_journal_segments_is_followed() -> None:
    tracker = bursts.Bursts()
    first, _ = stats.from_observations([seen(T0 + i * 0.01) for i in range(6)], tracker)
    second, _ = stats.from_observations([seen(T0 + 0.06 + i * 0.01) for i in range(6)], tracker)
    assert first[("db1", "s1", 300, T0)].bursts == 0
    later = second[("db1", "s1", 300, T0)]
    assert (later.bursts, later.burst_calls, later.burst_max) == (
        1,
        12,
        12,
    )  # the whole burst, counted when it became one


def test_figures_fill_both_widths_with_counts_latency_and_errors() -> None:
    observed = [
        seen(T0 + 1, duration_ms=0.5),
        seen(T0 + 2, duration_ms=30.0, error="P6004", rows=None, response_bytes=50),
        seen(T0 + 400, duration_ms=3.0),
        seen(T0 + 5, background=True),
    ]
    buckets, shapes = stats.from_observations(observed)
    assert set(buckets) == {("db1", "s1", 300, T0), ("db1", "s1", 300, T0 + 300), ("db1", "s1", 3600, T0)}
    hour = buckets[("db1", "s1", 3600, T0)]
    assert (hour.calls, hour.errors, hour.timeouts, hour.rows_known, hour.bytes) == (3, 1, 1, 2, 250)
    assert hour.latency[0] == 1 and hour.latency[2] == 1 and hour.latency[5] == 1  # ≤1, ≤5, ≤50 ms
    assert shapes[("db1", "s1")].first == T0 + 1 and shapes[("db1", "s1")].last == T0 + 400


def test_cache_hits_are_counted_per_shape_at_the_moment_the_batch_is_counted() -> None:
    today = dt.datetime.fromtimestamp(T0, dt.UTC).date().isoformat()
    counts = [HitCount("db1", today, HIT, "s1", 5, 500), HitCount("db1", today, SHARED, "s1", 2, 20)]
    buckets = stats.from_hits(counts, T0 + 10)
    hour = buckets[("db1", "s1", 3600, T0)]
    assert (hour.cache_hits, hour.cache_shared, hour.cache_bytes, hour.calls) == (5, 2, 520, 0)


async def test_a_database_gets_at_most_max_shapes_the_rest_go_under_other(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "MAX_SHAPES", 3)
    conn = await asyncpg.connect(pg_database)
    try:
        await migrate(conn)
        sink = stats.InsightStats(clock=lambda: T0)
        async with conn.transaction():
            await sink.observed(conn, [seen(T0 + i, shape=f"s{i}") for i in range(5)])
            await sink.observed(conn, [seen(T0 + 9, shape="s0"), seen(T0 + 9, shape="s9")])
        rows = await conn.fetch("SELECT shape, calls FROM insight_buckets WHERE width = 3600 ORDER BY shape")
        assert [(r["shape"], r["calls"]) for r in rows] == [("s0", 2), ("s1", 1), ("s2", 1), ("~other", 3)]
        read = await figures.read(_Pool(conn), "db1", "week", dt.datetime.fromtimestamp(T0 + 60, dt.UTC))
        assert {f.shape: f.calls for f in read} == {"s0": 2, "s1": 1, "s2": 1, "~other": 3}
    finally:
        await conn.close()


async def test_two_origin_processes_figures_add_up_and_old_buckets_are_pruned(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    try:
        await migrate(conn)
        for process in (stats.InsightStats(), stats.InsightStats()):  # each its own memory
            async with conn.transaction():
                await process.observed(conn, [seen(T0 + 1), seen(T0 + 2, duration_ms=40.0)])
        read = await figures.read(_Pool(conn), "db1", "hour", dt.datetime.fromtimestamp(T0 + 60, dt.UTC))
        [shape] = read
        assert (shape.calls, shape.timed, shape.duration_max) == (4, 4, 40.0)
        assert shape.latency[1] == 2 and shape.latency[5] == 2
        await stats.prune(_Pool(conn), dt.datetime.fromtimestamp(T0, dt.UTC) + dt.timedelta(hours=3))
        widths = [r["width"] for r in await conn.fetch("SELECT width FROM insight_buckets")]
        assert widths == [3600]  # 5-minute buckets are kept 2 hours, hourly ones 8 days
    finally:
        await conn.close()


class _Pool:
    """A pool of the one test connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def acquire(self) -> _Pool:
        return self

    async def __aenter__(self) -> asyncpg.Connection:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


def query(arguments: dict[str, object]) -> JsonQuery:
    return JsonQuery("Price", "findUnique", {"arguments": arguments, "selection": {"$scalars": True}})


def test_identical_reads_are_replayed_against_each_ttl() -> None:
    now = [T0]
    noted = notes.Notes(clock=lambda: now[0])
    outcome = Outcome("{}", frozenset(), frozenset(), shape="s1", rows=1, sql="SELECT 1")
    for step in (0, 0.5, 3, 3.2, 20, 20.5):  # seconds after T0
        now[0] = T0 + step
        noted.note("db1", query({"where": {"id": 7}}), outcome)
    noted.note("db1", query({"where": {"id": 8}}), outcome)  # another value: a miss everywhere
    note = noted._notes[("db1", "s1")]
    assert note.reads == 7
    # ttl 1: 0.5 and 3.2 hit; ttl 5: 0.5, 3, 3.2 (entry from 0), 20.5 (entry from 20); ttl 30: all five.
    assert dict(zip(notes.TTLS, note.would_hit, strict=True)) == {1: 3, 5: 4, 10: 4, 30: 5, 60: 5, 300: 5}


def test_the_facts_of_a_query_name_fields_filtered_with_a_leading_wildcard() -> None:
    facts = notes.facts_of(
        JsonQuery(
            "User",
            "findMany",
            {
                "arguments": {
                    "where": {"OR": [{"email": {"contains": "x"}}, {"name": {"startsWith": "a"}}]},
                    "skip": 5,
                },
                "selection": {"id": True},
            },
        )
    )
    assert facts == {
        "take": False,
        "skip": True,
        "cursor": False,
        "select": True,
        "leading_wildcard": ["email"],
    }


PEOPLE = Table(
    "public",
    "people",
    50_000,
    {n: Column(n, "text", 20) for n in ("id", "email", "team", "createdAt")},
    0,
    0,
)


@pytest.mark.parametrize(
    ("scan", "wildcards", "statement"),
    [
        (
            Scan("Seq Scan", "public", "people", "(t0.email = $1)"),
            False,
            'CREATE INDEX CONCURRENTLY "people_email_idx" ON "public"."people" ("email")',
        ),
        (
            Scan("Seq Scan", "public", "people", '((t0.team = $1) AND (t0."createdAt" > $2))'),
            False,
            'CREATE INDEX CONCURRENTLY "people_team_createdAt_idx" ON "public"."people" '
            '("team", "createdAt")',
        ),
        (
            Scan("Seq Scan", "public", "people", "(t0.team = $1)", ['t0."createdAt" DESC'], limited=True),
            False,
            'CREATE INDEX CONCURRENTLY "people_team_createdAt_idx" ON "public"."people" '
            '("team", "createdAt" DESC)',
        ),
        (
            Scan("Index Scan", "public", "people", "(t0.email ~~ $1)"),
            True,
            'CREATE INDEX CONCURRENTLY "people_email_trgm" ON "public"."people" '
            'USING gin ("email" gin_trgm_ops)',
        ),
        (Scan("Seq Scan", "public", "people", "(t0.nope = $1)"), False, None),
        (Scan("Seq Scan", "public", "people", None), False, None),
    ],
)
def test_an_index_is_proposed_from_the_scans_filter_and_order(
    scan: Scan, wildcards: bool, statement: str | None
) -> None:
    found = proposals.proposal(scan, PEOPLE, [], wildcards)
    assert (found.statement() if found else None) == statement


def test_no_index_is_proposed_when_one_already_leads_with_the_columns() -> None:
    definition = "CREATE INDEX p_email ON public.people USING btree (email)"
    existing = Index("public", "people", "p_email", definition, False, False, (2,), True, 0, 8192)
    assert (
        proposals.proposal(Scan("Seq Scan", "public", "people", "(t0.email = $1)"), PEOPLE, [existing], False)
        is None
    )
