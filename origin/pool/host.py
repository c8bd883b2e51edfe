"""A host's connection budget (`HostBudget`), shared fairly by the pools of its databases, and the
rules by which it is shared. The host sees a pool only as `HostedPool` (database.py's `DatabasePool`
is the one kind): slots go to pools, and come back when their connections close.

Fair share. A database is *active* while it holds or wants connections, or used one in the last
`active_seconds`; each active database's share of its host is `per_host // active` (at least 1).
1. A database that needs a connection while the host is full waits in the host's line; freed slots
   go to the database in line holding the fewest connections (first come among equals).
2. A released connection goes back to its own database's waiters, unless others wait in the host's
   line and its database holds more than its share: then it is closed and its slot goes to the line.
3. Idle connections are kept up to the share of an active database; anything else idle (beyond the
   share, or of a database no longer active) is closed for the line when someone waits.
4. Taking back: when a database is starving (it waits in the line holding less than half the share
   of the databases holding or wanting connections right now; not mere jitter among equally busy
   ones), the database furthest above that share loses its longest-held connection that it has held
   at least `reclaim_after_seconds`: an
   interactive transaction is rolled back (P2028, saying why) or a request's statement is stopped
   (BW3003). Its slot goes to the line. So a tenant holding connections (open transactions, long
   statements) gives them up within `reclaim_after_seconds` plus the time Postgres takes to cancel
   (bounded by the guard's kill time) once others need them, and a tenant within its share is never
   interrupted. The platform's own short work (`connection()`) is never taken back.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any, Protocol

import asyncpg

from .loans import Idle, Loan
from .settings import PoolKey, PoolSettings


class HostedPool(Protocol):
    """What the host's rules read of a database's pool, and ask of it."""

    idle: list[Idle]  # most recently used last
    in_use: int
    loans: dict[asyncpg.Connection, Loan]
    opening: int
    requested: int  # slots asked of the host, not granted yet
    waiters: deque[asyncio.Future[asyncpg.Connection]]

    @property
    def size(self) -> int: ...

    def is_active(self, now: float) -> bool: ...

    def slot_granted(self) -> bool: ...

    def spawn(self, coroutine: Awaitable[None]) -> None: ...

    async def close_then(self, conn: asyncpg.Connection) -> None: ...


class HostBudget:
    """The connection slots of one host, shared by its databases' pools (the rules are in the module
    docstring)."""

    def __init__(self, host_id: str, limit: int, settings: PoolSettings | None = None) -> None:
        self.host_id = host_id
        self.limit = limit  # this origin's share of the host's budget
        self.settings = settings or PoolSettings(per_host=limit)
        self.used = 0  # opening, open (idle or in use), or closing
        self.queue: deque[HostedPool] = deque()  # one entry per slot a pool asked for, in order
        self.pools: dict[PoolKey, HostedPool] = {}
        self.closing = 0  # connections being closed: their slots are on the way to the line
        self.reclaiming = 0  # loans asked to stop, not yet given back
        self._timer: asyncio.TimerHandle | None = None

    def request(self, pool: HostedPool) -> bool:
        """A slot for `pool`: True if taken at once; otherwise it is granted later via `slot_granted`."""
        if not self.queue and self.used < self.limit:
            self.used += 1
            return True
        self.queue.append(pool)
        self.rebalance()
        return False

    def give_back(self) -> None:
        """A slot was freed (its connection is closed): the line gets it, fewest-held first (rule 1)."""
        if self.used > self.limit:
            # Above this origin's share (it shrank when another origin joined): not ours to pass on.
            self.used -= 1
            return
        while self.queue:
            if self._next_in_line().slot_granted():
                return
        self.used -= 1

    def _next_in_line(self) -> HostedPool:
        best = 0
        for index, pool in enumerate(self.queue):
            if pool.size < self.queue[best].size:
                best = index
        pool = self.queue[best]
        del self.queue[best]
        return pool

    def resize(self, limit: int) -> None:
        """This origin's share of the host changed: a larger one goes to the line at once, a smaller
        one is reached by closing idle connections now and busy ones as they come back (`over`)."""
        self.limit = limit
        while self.queue and self.used < self.limit:
            self.used += 1
            if not self._next_in_line().slot_granted():
                self.used -= 1
        excess = self.used - self.closing - self.limit
        idle = sorted(((p, i) for p in self.pools.values() for i in p.idle), key=lambda pair: pair[1].since)
        for owner, entry in idle[: max(0, excess)]:
            owner.idle.remove(entry)
            owner.spawn(owner.close_then(entry.conn))

    def over(self) -> bool:
        """Whether this origin holds more of the host than its share (connections closing excepted)."""
        return self.used - self.closing > self.limit

    def others_wait(self, pool: HostedPool) -> bool:
        return any(p is not pool for p in self.queue)

    def demanding_share(self) -> int:
        """The share of each database that holds or wants connections at this moment."""
        demanding = sum(1 for p in self.pools.values() if p.in_use or p.waiters or p.opening or p.requested)
        return max(1, self.limit // max(1, demanding))

    def fair_share(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        active = sum(1 for p in self.pools.values() if p.is_active(now))
        return max(1, self.limit // max(1, active))

    # --- rules 3 and 4: making room for the line ---------------------------------------------------

    def rebalance(self) -> None:
        """Close idle connections nobody may keep and take back connections held above a share, as
        far as the line needs them; while anyone waits, look again every tick."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.queue:
            return
        now = time.monotonic()
        share = self.fair_share(now)
        wanted = len(self.queue) - self.closing - self.reclaiming
        for owner, idle in self._unprotected_idle(share, now):
            if wanted <= 0:
                break
            owner.idle.remove(idle)
            owner.spawn(owner.close_then(idle.conn))
            wanted -= 1
        # Taking back interrupts someone: only for a database that is starving (below half of the
        # share of the databases using the host right now), never for jitter among equally busy ones.
        demand = self.demanding_share()
        starving = sum(1 for p in self.queue if p.size * 2 < demand)
        while wanted > 0 and starving > self.reclaiming:
            loan = self._loan_to_take_back(demand, now)
            if loan is None:
                break
            loan.reclaimed = True
            self.reclaiming += 1
            wanted -= 1
            assert loan.stop is not None
            loan.stop()
        tick = min(0.1, max(self.settings.reclaim_after_seconds / 2, 0.01))
        self._timer = asyncio.get_running_loop().call_later(tick, self.rebalance)

    def _unprotected_idle(self, share: int, now: float) -> list[tuple[HostedPool, Idle]]:
        """Idle connections beyond their database's keep (its share while active), longest idle first."""
        found: list[tuple[HostedPool, Idle]] = []
        for pool in self.pools.values():
            keep = share if pool.is_active(now) else 0
            spare = min(len(pool.idle), pool.size - keep)
            found.extend((pool, idle) for idle in pool.idle[: max(0, spare)])
        found.sort(key=lambda pair: pair[1].since)
        return found

    def _loan_to_take_back(self, share: int, now: float) -> Loan | None:
        """The longest-held connection that can be ended, of the database furthest above its share."""
        cutoff = now - self.settings.reclaim_after_seconds
        over = sorted((p for p in self.pools.values() if p.size > share), key=lambda p: p.size, reverse=True)
        for pool in over:
            candidates = [
                loan
                for loan in pool.loans.values()
                if loan.stop is not None and not loan.reclaimed and loan.since <= cutoff
            ]
            if candidates:
                return min(candidates, key=lambda loan: loan.since)
        return None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def figures(self) -> dict[str, Any]:
        return {
            "host": self.host_id,
            "budget": self.limit,
            "host_budget": self.settings.per_host,
            "used": self.used,
            "waiting_pools": len(self.queue),
        }
