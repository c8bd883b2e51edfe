"""N+1 bursts: runs of one key's calls of one shape whose arrivals are at most `BURST_GAP_SECONDS`
apart, followed across journal segments (stats.py counts them into the buckets)."""

from __future__ import annotations

from collections.abc import Sequence

BURST_GAP_SECONDS = 0.25  # from one call's end to the next one's arrival
BURST_MIN_CALLS = 10
# Actions whose bursts are N+1 candidates: reads of one record (or of a relation's records).
BURST_ACTIONS = frozenset(
    {"findUnique", "findUniqueOrThrow", "findFirst", "findFirstOrThrow", "findMany", "count", "aggregate"}
)


class Bursts:
    """Runs of one key's calls of one shape, followed across journal segments (in this process's
    memory: a run split between two origin processes is two shorter runs). A run is a burst once it
    reaches BURST_MIN_CALLS distinct requests; each further call adds to it."""

    MAX_RUNS = 50_000

    def __init__(self) -> None:
        # key: [last arrival, last end, length]
        self._runs: dict[tuple[str, str, str], list[float]] = {}

    def feed(
        self, key: tuple[str, str, str], calls: Sequence[tuple[float, float]]
    ) -> list[tuple[float, int, int]]:
        """(arrival, bursts added, calls added) for the calls (arrival, end) that are in a burst. The
        gap is from one call's end to the next one's arrival: a loop awaits each call."""
        run = self._runs.get(key)
        events: list[tuple[float, int, int]] = []
        for at, end in sorted(set(calls)):
            if run is not None and at == run[0]:
                run[1] = max(run[1], end)
                continue  # another operation of the same request (a batch)
            if run is None or at - run[1] > BURST_GAP_SECONDS:
                run = [at, end, 1.0]
            else:
                run[0], run[1], run[2] = at, max(run[1], end), run[2] + 1
            if run[2] == BURST_MIN_CALLS:
                events.append((at, 1, BURST_MIN_CALLS))
            elif run[2] > BURST_MIN_CALLS:
                events.append((at, 0, 1))
        if run is not None:
            self._runs[key] = run
        if len(self._runs) > self.MAX_RUNS:
            newest = max(r[1] for r in self._runs.values())
            self._runs = {k: r for k, r in self._runs.items() if newest - r[1] <= BURST_GAP_SECONDS}
        return events

    def length(self, key: tuple[str, str, str]) -> int:
        run = self._runs.get(key)
        return int(run[2]) if run else 0
