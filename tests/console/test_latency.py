"""Recent query times per database: nearest-rank percentiles over a bounded, timed window."""

from __future__ import annotations

from origin.latency import RecentLatency, percentile
from origin.observe import Observation


def seen(database_id: str, duration_ms: float | None, background: bool = False) -> Observation:
    return Observation(
        database_id=database_id,
        key_id="k",
        protocol="v1",
        model="items",
        action="findMany",
        shape=None,
        duration_ms=duration_ms,
        rows=1,
        response_bytes=10,
        error=None,
        transaction=None,
        arrived_at=0.0,
        background=background,
    )


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50, 99, 100)
    assert percentile([7.0], 0.99) == 7.0


def test_each_database_keeps_its_own_recent_times() -> None:
    now = [1000.0]
    recent = RecentLatency(keep=100, window=60, clock=lambda: now[0])
    for ms in range(1, 101):
        recent.observe(seen("a", float(ms)))
    recent.observe(seen("b", 500.0))
    recent.observe(seen("a", 10_000.0, background=True))  # the edge's own refresh: no one waited
    recent.observe(seen("a", None))  # never ran
    a = recent.of("a")
    assert a is not None and (a.operations, a.p50_ms, a.p99_ms, a.max_ms) == (100, 50, 99, 100)
    b = recent.of("b")
    assert b is not None and (b.operations, b.p99_ms) == (1, 500)
    assert recent.of("c") is None


def test_old_times_leave_the_window_and_the_oldest_leave_past_the_bound() -> None:
    now = [0.0]
    recent = RecentLatency(keep=3, window=60, clock=lambda: now[0])
    for ms in (1.0, 2.0, 3.0, 4.0):
        recent.observe(seen("a", ms))
    found = recent.of("a")
    assert found is not None and (found.operations, found.p50_ms) == (3, 3)  # 1.0 was pushed out
    now[0] = 61.0
    assert recent.of("a") is None
