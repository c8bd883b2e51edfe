"""The origins this edge forwards to: which are up, and which one takes the next request.

What the edge knows of an origin's health is what it saw itself (each Worker isolate, like the local
edge, keeps its own view; nothing is shared):
1. An origin that could not be reached is down for `down_seconds`, doubled with each failure in a
   row up to `max_down_seconds`.
2. When that time is over, one health probe (`GET /_bw/health`, run in the background) decides: up
   again, or down for longer. No request waits for a probe, and none is sent to find out.
3. A request goes to the up origin with the fewest requests in flight (ties in turn), so load spreads
   over the healthy ones, a slow origin gets less, a down one none.
4. When every origin is down, requests still try them all, the one back soonest first: this edge's
   view may be older than the origins' recovery.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .ports import Clock

HEALTH_PATH = "/_bw/health"


@dataclass
class OriginHealth:
    origin_id: str
    in_flight: int = 0
    failures: int = 0  # in a row; 0: up
    down_until: float = 0.0  # clock time the next probe is due (while down)
    probing: bool = False

    @property
    def up(self) -> bool:
        return self.failures == 0


class OriginSet:
    def __init__(
        self,
        origin_ids: Sequence[str],
        clock: Clock,
        down_seconds: float = 1.0,
        max_down_seconds: float = 30.0,
    ) -> None:
        self.clock = clock
        self.down_seconds = down_seconds
        self.max_down_seconds = max_down_seconds
        self.health = {origin_id: OriginHealth(origin_id) for origin_id in origin_ids}
        self._turn = 0

    def order(self, exclude: Collection[str] = ()) -> list[str]:
        """The origins to try for one request, best first (rules 3 and 4)."""
        self._turn += 1
        count = len(self.health)
        ranked = [
            (h.in_flight, (index - self._turn) % count, h)
            for index, h in enumerate(self.health.values())
            if h.origin_id not in exclude
        ]
        up = [h.origin_id for _f, _t, h in sorted(ranked, key=lambda r: r[:2]) if h.up]
        down = sorted((r[2] for r in ranked if not r[2].up), key=lambda h: h.down_until)
        return up + [h.origin_id for h in down]

    def started(self, origin_id: str) -> None:
        self.health[origin_id].in_flight += 1

    def finished(self, origin_id: str) -> None:
        self.health[origin_id].in_flight -= 1

    def reached(self, origin_id: str) -> None:
        """The origin answered: it is up."""
        health = self.health[origin_id]
        health.failures = 0
        health.down_until = 0.0

    def failed(self, origin_id: str) -> None:
        """The origin could not be reached (rule 1)."""
        health = self.health[origin_id]
        health.failures += 1
        wait = min(self.max_down_seconds, self.down_seconds * 2 ** (health.failures - 1))
        health.down_until = self.clock() + wait

    def due_probes(self) -> list[str]:
        """Down origins whose probe is due and not under way; they count as probing from now on."""
        now = self.clock()
        due = [h for h in self.health.values() if not h.up and not h.probing and h.down_until <= now]
        for health in due:
            health.probing = True
        return [h.origin_id for h in due]

    def probed(self, origin_id: str, answered: bool) -> None:
        health = self.health[origin_id]
        health.probing = False
        if answered:
            self.reached(origin_id)
        else:
            self.failed(origin_id)

    def figures(self) -> dict[str, str]:
        return {h.origin_id: "up" if h.up else "down" for h in self.health.values()}
