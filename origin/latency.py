"""Each database's recent query times at this origin process, for the console's p50 and p99.

Metering keeps a day's average per database (in the control plane, across origins); percentiles need
the times themselves, so this keeps the last `keep` operations of each database that finished within
`window` seconds, fed by the origin's observations (observe.py). Like the pool's figures, they are this
process's: with several origins, each sees the queries it ran. Background refreshes of the edge's cache
are not a client's wait and are left out; so are operations that never ran.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .observe import Observation

_MOST_DATABASES = 10_000  # past this, databases with nothing recent are forgotten at the next note


@dataclass(frozen=True)
class Latency:
    operations: int  # how many the percentiles are of
    p50_ms: float
    p99_ms: float
    max_ms: float
    window_seconds: float


def percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class RecentLatency:
    def __init__(
        self, keep: int = 1000, window: float = 900.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.keep = keep
        self.window = window
        self._clock = clock
        self._times: dict[str, deque[tuple[float, float]]] = {}

    def observe(self, seen: Observation) -> None:
        if seen.background or seen.duration_ms is None:
            return
        found = self._times.get(seen.database_id)
        if found is None:
            if len(self._times) >= _MOST_DATABASES:
                self._forget_quiet()
            found = self._times[seen.database_id] = deque(maxlen=self.keep)
        found.append((self._clock(), seen.duration_ms))

    def of(self, database_id: str) -> Latency | None:
        """The database's recent figures; None when it ran nothing here within the window."""
        since = self._clock() - self.window
        recent = sorted(ms for at, ms in self._times.get(database_id, ()) if at >= since)
        if not recent:
            return None
        return Latency(
            len(recent), percentile(recent, 0.5), percentile(recent, 0.99), recent[-1], self.window
        )

    def _forget_quiet(self) -> None:
        since = self._clock() - self.window
        for database_id in [d for d, times in self._times.items() if not times or times[-1][0] < since]:
            del self._times[database_id]
