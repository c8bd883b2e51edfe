"""Connections to tenant databases: a pool of asyncpg connections per database, opened on first use
and closed when idle, all inside a connection budget per host that is never exceeded.

Every front borrows through `serving()` (one request's work, bounded by the database's limits),
`lease()` (held across requests, for interactive transactions) or `connection()` (the platform's own
short work); how pools are sized, shared and closed lives here only.

- Per database: at most `per_database` connections. A request that finds none free waits in line
  (first come, first served) up to its wait time, then fails with P2024, Prisma's pool timeout,
  never with Postgres's "too many connections". At most `waiting_requests` (a per-database limit)
  wait at once; more get BW1429 at once.
- Per host: at most `per_host` connections over all its databases, shared fairly (see "Fair share").
- Several origin processes divide both budgets: each holds its `Share` (shares.py, from the live
  origins peers.py sees) of `per_host` and of `per_database`, and the rules here work within it.
  When the share grows, the line gets the new slots at once; when it shrinks, idle connections
  beyond it close at once and connections in use close as they come back. The host's proxy refuses
  sessions beyond the host's whole budget (hosts/proxy.py), which covers the moments when the
  origins' views of who is live differ; `_connect` waits through such a refusal.
- A slot counts as used from the moment a connection is being opened until it is closed, and a
  close waits for the server to end the session, so Postgres never sees more than the budget.
- Read-only callers get connections of the database's read-only role (`read_only=True`), from a
  second pool of the database. The two pools share the database's limit: a pool at the limit takes
  an idle connection of the other (closing it), and a connection released while the other role
  waits at the limit is closed so the other can open one, so that both roles, when both wait, end
  up with half the connections each. A connection never changes role: Postgres cannot switch a
  session's role in a way the session could not undo. For the fair share each role's pool counts
  as a pool of its own (the database's limit still bounds the two together).

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

Several hosts. Each database's connections go to its own host's proxy (the DSN the control plane
holds), and each host has its own budget. A host whose proxy does not answer makes only its own
databases fail, with BW3010 naming it, after `unreachable_seconds` of retries (an agent restarting
is back well within them). While a database moves to another host (control/moves.py) its requests
get BW3011 at once; when the proxy says it moved, the database's record is read again and the pool
opened anew at the new address.

Connections go to the host's wake-on-connect proxy (the DSN the control plane holds), which thaws
a paused instance before it forwards a byte to it: a pooled connection survives a pause, and its
next query resumes the instance first. A hibernated instance ends its sessions; the pool notices
the closed connection, drops it, and opens a new one, which starts the instance again.

asyncpg.Pool is per database and cannot share a budget with others or give up an idle connection
for another database; the connections here are plain asyncpg connections, reset on release the
way asyncpg.Pool resets them.

One module, longer than most, on purpose: a host's budget (`HostBudget`) and its databases' pools
(`DatabasePool`) hand slots and connections to each other, each calling the other, under
invariants that hold between awaits; split apart they would be two modules importing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from bwcontract.codes import Code

from . import pgtime
from .control.store import ControlStore, Database
from .dberrors import session_ended
from .errors import BreakwaterError, DatabaseMoving, UpstreamError, database_moving, host_unavailable
from .guard import KILL_AFTER_SECONDS, TenantConnection, bounded
from .limits import Limits, LimitsBook, too_many_waiting
from .shares import WHOLE, Share

log = logging.getLogger("breakwater.pool")

PoolKey = tuple[str, bool]  # (database id, read-only role)
ReadOnlyDsn = Callable[[Database], Awaitable[str]]  # made by the host agent when the database has none


class PoolTimeout(BreakwaterError):
    """No connection became free in time (Prisma's pool timeout)."""

    code = Code.POOL_TIMEOUT


class Reclaimed(BreakwaterError):
    """The request's connection was taken back for a database below its fair share."""

    code = Code.RECLAIMED


class DatabaseGone(BreakwaterError):
    """The database was deleted: there is nothing to connect to. The pool knows databases, not keys;
    what a caller hears is the composition root's to say (`Tenants(gone=...)`: the origin answers
    that the caller's key is invalid)."""

    code = Code.NOT_FOUND


class Relocating(DatabaseMoving):
    """The host's proxy says the database is moving or moved: `Tenants` reads where it is now."""


def connection_lost(host_id: str, exc: BaseException) -> BreakwaterError:
    return UpstreamError(
        f"The connection to the database was lost during the request ({type(exc).__name__}): its host "
        f"{host_id!r} restarted its agent, or the database is moving.",
        meta={"host": host_id},
        hint="Retry; a write in flight may or may not have been applied.",
    )


async def proxy_refuses(dsn: str) -> bool:
    """Whether nobody listens at the DSN's host:port now (its host agent is down): a dropped
    connection is then the host's outage, not this request's bad luck."""
    address = urlsplit(dsn)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address.hostname, address.port), 1.0)
    except (OSError, TimeoutError):
        return True
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return False


def database_gone(database_id: str) -> BreakwaterError:
    return DatabaseGone(f"The database {database_id} no longer exists.")


def reclaimed() -> Reclaimed:
    return Reclaimed(
        "This request was stopped: its database held more than its fair share of the host's "
        "connections while other databases waited, and this was its longest-running request.",
        hint="Retry; keep fewer requests and transactions open at once, or shorten long statements.",
    )


@dataclass(frozen=True)
class PoolSettings:
    per_database: int = 10
    per_host: int = 100
    wait_seconds: float = 10.0  # how long a request waits in line for a connection
    idle_seconds: float = 360.0  # a connection (and a pool) unused this long is closed
    connect_seconds: float = 15.0  # opening one connection, waking its database included
    active_seconds: float = 10.0  # used this recently, a database still counts for the fair share
    reclaim_after_seconds: float = 0.5  # held this long above its share, a connection can be taken back
    unreachable_seconds: float = 5.0  # a host's proxy refusing connections this long: BW3010

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PoolSettings:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            return float(env.get(name) or default)

        return cls(
            per_database=int(number("BREAKWATER_POOL_PER_DATABASE", cls.per_database)),
            per_host=int(number("BREAKWATER_POOL_HOST_BUDGET", cls.per_host)),
            wait_seconds=number("BREAKWATER_POOL_WAIT_SECONDS", cls.wait_seconds),
            idle_seconds=number("BREAKWATER_POOL_IDLE_SECONDS", cls.idle_seconds),
            connect_seconds=number("BREAKWATER_POOL_CONNECT_SECONDS", cls.connect_seconds),
            active_seconds=number("BREAKWATER_POOL_ACTIVE_SECONDS", cls.active_seconds),
            reclaim_after_seconds=number("BREAKWATER_POOL_RECLAIM_SECONDS", cls.reclaim_after_seconds),
            unreachable_seconds=number("BREAKWATER_POOL_UNREACHABLE_SECONDS", cls.unreachable_seconds),
        )


@dataclass(eq=False)
class Loan:
    """A connection lent out, as the fair-share rule sees it: since when, and how its holder's use
    of it can be ended (None: it cannot, e.g. the platform's own short work)."""

    conn: asyncpg.Connection
    since: float
    stop: Callable[[], object] | None = None
    reclaimed: bool = False


@dataclass
class Lease:
    """A connection held beyond one request; `release()` gives it back (a second call does nothing).
    Its holder sets `loan.stop` to let the pool take it back (rule 4)."""

    conn: asyncpg.Connection
    _pool: DatabasePool
    loan: Loan
    _released: bool = False

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        # Shielded: a cancelled caller must not leak the connection.
        await asyncio.shield(self._pool.release(self.conn))


@dataclass
class _Idle:
    conn: asyncpg.Connection
    since: float


class HostBudget:
    """The connection slots of one host, shared by its databases' pools (the rules are in the module
    docstring)."""

    def __init__(self, host_id: str, limit: int, settings: PoolSettings | None = None) -> None:
        self.host_id = host_id
        self.limit = limit  # this origin's share of the host's budget
        self.settings = settings or PoolSettings(per_host=limit)
        self.used = 0  # opening, open (idle or in use), or closing
        self.queue: deque[DatabasePool] = deque()  # one entry per slot a pool asked for, in order
        self.pools: dict[PoolKey, DatabasePool] = {}
        self.closing = 0  # connections being closed: their slots are on the way to the line
        self.reclaiming = 0  # loans asked to stop, not yet given back
        self._timer: asyncio.TimerHandle | None = None

    def request(self, pool: DatabasePool) -> bool:
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

    def _next_in_line(self) -> DatabasePool:
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

    def others_wait(self, pool: DatabasePool) -> bool:
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

    def _unprotected_idle(self, share: int, now: float) -> list[tuple[DatabasePool, _Idle]]:
        """Idle connections beyond their database's keep (its share while active), longest idle first."""
        found: list[tuple[DatabasePool, _Idle]] = []
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


class DatabasePool:
    """The connections of one database and role (its owner's, or its read-only role's)."""

    def __init__(
        self,
        database_id: str,
        dsn: str,
        host: HostBudget,
        settings: PoolSettings,
        tasks: set[asyncio.Task[Any]],
        limits: Limits | None = None,
        *,
        read_only: bool = False,
        sibling: DatabasePool | None = None,
        limit: int | None = None,
    ) -> None:
        self.database_id = database_id
        self.dsn = dsn
        self.read_only = read_only
        # The database's pool of the other role: the two share `limit`.
        self.sibling = sibling
        if sibling is not None:
            sibling.sibling = self
        self.host = host
        self.settings = settings
        self.limit = settings.per_database if limit is None else limit  # this origin's share of it
        self.limits = limits or Limits()
        self.idle: list[_Idle] = []  # most recently used last
        self.in_use = 0
        self.loans: dict[asyncpg.Connection, Loan] = {}
        self.opening = 0
        self.requested = 0  # slots asked of the host, not granted yet
        self.waiters: deque[asyncio.Future[asyncpg.Connection]] = deque()
        self.left_line: deque[float] = deque(maxlen=256)  # when waiters last left it, served or not
        self.last_used = time.monotonic()
        self.closed = False
        self._tasks = tasks
        # figures
        self.acquired = 0
        self.timeouts = 0
        self.refused = 0  # over the waiting limit
        self.reclaimed = 0  # connections taken back for databases below their share
        self.opened = 0
        self.closed_connections = 0
        self.wait_total = 0.0
        self.wait_max = 0.0
        self.recent_waits: deque[float] = deque(maxlen=1024)

    @property
    def size(self) -> int:
        return len(self.idle) + self.in_use + self.opening

    def is_active(self, now: float) -> bool:
        return bool(
            self.in_use
            or self.waiters
            or self.opening
            or self.requested
            or now - self.last_used < self.settings.active_seconds
        )

    def use_limits(self, limits: Limits) -> None:
        """The database's current limits; connections opened under other ones are closed on release."""
        self.limits = limits

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- borrowing ------------------------------------------------------------------------------

    async def acquire(self, timeout: float) -> Loan:
        started = time.monotonic()
        self.last_used = started
        while self.idle and not self.waiters:
            conn = self.idle.pop().conn
            if conn.is_closed():
                self._lost()
                continue
            self.in_use += 1
            self._count_wait(0.0)
            return self._lend(conn)
        if len(self.waiters) >= self.limits.waiting_requests:
            self.refused += 1
            raise too_many_waiting(self.limits, self._turnover_seconds())
        waiter: asyncio.Future[asyncpg.Connection] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self._grow()
        try:
            async with asyncio.timeout(timeout):
                conn = await waiter
        except BaseException as exc:
            self.left_line.append(time.monotonic())
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed over just as the wait ended: pass it on rather than lose it.
                self.spawn(self.release(waiter.result()))
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                self.timeouts += 1
                raise PoolTimeout(
                    "Timed out fetching a new connection from the connection pool "
                    f"(waited {timeout:g}s; connection limit {self.limit} for this database, "
                    f"{self.host.limit} for its host).",
                    meta={"connection_limit": self.limit, "timeout": timeout},
                    hint="Retry, use fewer concurrent requests, or raise the connection limit.",
                ) from None
            raise
        self.left_line.append(time.monotonic())
        self._count_wait(time.monotonic() - started)
        return self._lend(conn)

    def _turnover_seconds(self) -> float:
        """How long the line takes to move on by its whole length, at the pace it has moved lately:
        what a refused client is told to wait (Retry-After), so retries spread out over it."""
        now = time.monotonic()
        recent = [t for t in self.left_line if now - t < 10]
        if len(recent) < 2 or now - recent[0] <= 0:
            return self.settings.wait_seconds
        pace = len(recent) / (now - recent[0])
        return min(30.0, max(1.0, len(self.waiters) / pace))

    def _lend(self, conn: asyncpg.Connection) -> Loan:
        loan = self.loans[conn] = Loan(conn, time.monotonic())
        return loan

    async def release(self, conn: asyncpg.Connection) -> None:
        self.last_used = time.monotonic()
        loan = self.loans.pop(conn, None)
        taken_back = loan is not None and loan.reclaimed
        if taken_back:
            self.host.reclaiming -= 1
            self.reclaimed += 1
        elif not conn.is_closed():
            try:
                # What asyncpg.Pool does on release: roll back, close cursors, unlisten, RESET ALL.
                # It first waits for a cancelled statement to end; one that does not, ends the session.
                await conn.reset(timeout=KILL_AFTER_SECONDS)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                conn.terminate()
        self.in_use -= 1
        if conn.is_closed():
            self._lost()
            return
        if taken_back or getattr(conn, "startup_settings", None) != self.limits.server_settings():
            # Taken back for the line (rule 4), or opened under limits that have changed since.
            self.spawn(self.close_then(conn))
            return
        self._put(conn)

    def _put(self, conn: asyncpg.Connection, *, granted: bool = False) -> None:
        """A clean connection is free: to the next waiter, to another database, or idle. A `granted`
        one was just opened in a slot the line gave this database: it serves it before anything else
        (closing it again at once would only spend an open on nobody)."""
        if self.closed or self.host.over() or self._family_used() + 1 > self.limit:
            # Closed, or above this origin's share (it shrank when another origin joined).
            self.spawn(self.close_then(conn))
            return
        if not granted and self.host.others_wait(self) and self.size + 1 > self.host.fair_share():
            # Rule 2: above its share while others wait, the slot goes to the line.
            self.spawn(self.close_then(conn))
            return
        if self._sibling_needs_it():
            # The other role waits at the database's limit: this connection makes room for one of its.
            self.spawn(self.close_then(conn))
            return
        waiter = self._next_waiter()
        if waiter is not None:
            self.in_use += 1
            waiter.set_result(conn)
            return
        self.idle.append(_Idle(conn, time.monotonic()))

    def _next_waiter(self) -> asyncio.Future[asyncpg.Connection] | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _live_waiters(self) -> int:
        # Only pending waiters stay in the line: a served one is popped, one that gave up removes itself.
        return len(self.waiters)

    def _family_used(self) -> int:
        """Connections counted against the database's limit: this role's and the other's."""
        used = self.size + self.requested
        if self.sibling is not None and not self.sibling.closed:
            used += self.sibling.size + self.sibling.requested
        return used

    def _sibling_needs_it(self) -> bool:
        """Whether a connection released here should make room for one of the other role: it has
        waiters with no connection coming, the database is at its limit (else it opens its own), and
        this role has nobody waiting or holds more than the other."""
        other = self.sibling
        if other is None or other.closed or other._live_waiters() <= other.opening + other.requested:
            return False
        if self._family_used() + 1 < self.limit:  # + the connection being released
            return False
        return not self._live_waiters() or other.size + other.requested < self.size

    def _reclaim_from_sibling(self) -> bool:
        """At the database's limit: close the other role's longest-idle connection to make room."""
        other = self.sibling
        if other is None or other.closed or not other.idle:
            return False
        idle = other.idle.pop(0)
        other.spawn(other.close_then(idle.conn))
        return True

    # --- growing and shrinking ------------------------------------------------------------------

    def resize(self, limit: int) -> None:
        """This origin's share of the database's limit changed (see HostBudget.resize)."""
        self.limit = limit
        while self.idle and self._family_used() > self.limit:
            entry = self.idle.pop(0)
            self.spawn(self.close_then(entry.conn))
        self._grow()

    def _grow(self) -> None:
        """Ask for as many slots as there are waiters without a connection coming, within the limit."""
        if self.closed:
            return
        while self._live_waiters() > self.opening + self.requested:
            if self._family_used() >= self.limit:
                if self._reclaim_from_sibling():
                    continue
                break
            if self.host.request(self):
                self._open_one()
            else:
                self.requested += 1
                if self.host.queue and self.host.queue[-1] is self:
                    break  # in the host's line: one place at a time keeps the line fair

    def slot_granted(self) -> bool:
        """The host gives this pool a slot; False if it no longer needs one."""
        if self.requested > 0:
            self.requested -= 1
        if self.closed or self._live_waiters() <= self.opening or self._family_used() >= self.limit:
            return False
        self._open_one()
        self._grow()
        return True

    def _open_one(self) -> None:
        self.opening += 1
        self.spawn(self._open())

    async def _open(self) -> None:
        try:
            conn = await self._connect()
        except BreakwaterError as exc:
            self.opening -= 1
            self.host.give_back()
            if self.in_use == 0:
                # Nothing will be released to them: tell every waiter now rather than at their timeout.
                while (waiter := self._next_waiter()) is not None:
                    waiter.set_exception(exc)
            return
        self.opening -= 1
        self.opened += 1
        self._put(conn, granted=True)

    async def _connect(self) -> asyncpg.Connection:
        """Open a connection, retrying while the host's proxy restarts or the database wakes up."""
        started = time.monotonic()
        deadline = started + self.settings.connect_seconds
        unreachable_until = started + min(self.settings.unreachable_seconds, self.settings.connect_seconds)
        delay = 0.02
        while True:
            settings = self.limits.server_settings()
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=max(0.1, deadline - time.monotonic()),
                    server_settings=settings,
                    connection_class=TenantConnection,
                )
                conn.install_meter()
                conn.startup_settings = settings
                await read_as_prisma_does(conn)
                return conn
            except OSError as exc:
                # Nobody listens at the host's proxy: its agent restarts (back in a second or two),
                # or the host is down, which must not hold this request for long.
                if time.monotonic() + delay > unreachable_until:
                    raise host_unavailable(
                        self.host.host_id, f"its proxy refuses connections ({exc})"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
            except (asyncpg.CannotConnectNowError, TimeoutError) as exc:
                if time.monotonic() + delay > deadline:
                    # Its proxy took the connection but nothing answered in time (the host hangs,
                    # or the database could not start): the host's outage, bounded.
                    why = f"it did not answer within {self.settings.connect_seconds:g}s ({exc!r})"
                    raise host_unavailable(self.host.host_id, why) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
            except asyncpg.OperatorInterventionError as exc:
                # The host's proxy: the database is moving, or moved away (routing.MOVING_SQLSTATE).
                raise Relocating(str(exc), meta={"dsn": self.dsn}) from None
            except asyncpg.TooManyConnectionsError as exc:
                # The host's proxy is at the host's whole budget (another origin still holds the part
                # this one now counts as its own: they see a join or a death a moment apart), or
                # Postgres is at max_connections: wait for a session to end, as for a free slot.
                if time.monotonic() + delay > deadline:
                    raise UpstreamError(
                        f"The database refused another connection: {exc}",
                        hint="Other clients hold its connections; lower their number or the pool's limit.",
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise UpstreamError(f"Connecting to the database failed: {exc}") from None

    async def close_then(self, conn: asyncpg.Connection) -> None:
        """Close a connection (waiting for the server to end the session), then free its slot."""
        self.host.closing += 1
        try:
            await asyncio.wait_for(conn.close(), 5)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            conn.terminate()
        finally:
            self.host.closing -= 1
        self.closed_connections += 1
        self.host.give_back()
        self._grow()
        if self.sibling is not None:
            self.sibling._grow()  # it may have waited for this connection's place in the limit

    def _lost(self) -> None:
        """A connection was found closed (the server ended it): its slot is free."""
        self.closed_connections += 1
        self.host.give_back()
        self._grow()

    async def close_idle(self, older_than: float) -> None:
        keep = []
        for idle in self.idle:
            if idle.since < older_than:
                self.spawn(self.close_then(idle.conn))
            else:
                keep.append(idle)
        self.idle = keep

    async def close(self, error: BreakwaterError | None = None) -> None:
        self.closed = True
        if self.sibling is not None:
            self.sibling.sibling = None
            self.sibling = None
        idle, self.idle = self.idle, []
        for entry in idle:
            await self.close_then(entry.conn)
        while (waiter := self._next_waiter()) is not None:
            waiter.set_exception(error or UpstreamError("The database's pool was closed.", hint="Retry."))

    # --- figures --------------------------------------------------------------------------------

    def _count_wait(self, seconds: float) -> None:
        self.acquired += 1
        self.wait_total += seconds
        self.wait_max = max(self.wait_max, seconds)
        self.recent_waits.append(seconds)

    def figures(self) -> dict[str, Any]:
        waits = sorted(self.recent_waits)
        p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))] if waits else 0.0
        return {
            "database_id": self.database_id,
            "read_only": self.read_only,
            "host": self.host.host_id,
            "limit": self.limit,
            "in_use": self.in_use,
            "idle": len(self.idle),
            "opening": self.opening,
            "waiting": self._live_waiters(),
            "acquired": self.acquired,
            "timeouts": self.timeouts,
            "opened": self.opened,
            "closed": self.closed_connections,
            "refused": self.refused,
            "reclaimed": self.reclaimed,
            "wait_ms_total": round(self.wait_total * 1000, 3),
            "wait_ms_max": round(self.wait_max * 1000, 3),
            "wait_ms_p99_recent": round(p99 * 1000, 3),
            "idle_seconds": round(time.monotonic() - self.last_used, 3),
        }


@dataclass
class _Opening:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Tenants:
    def __init__(
        self,
        store: ControlStore,
        settings: PoolSettings | None = None,
        *,
        max_size: int | None = None,
        acquire_timeout: float | None = None,
        limits: LimitsBook | None = None,
        readonly_dsn: ReadOnlyDsn | None = None,
        gone: Callable[[str], BreakwaterError] = database_gone,
    ) -> None:
        settings = settings or PoolSettings.from_env()
        if max_size is not None:
            settings = dataclasses.replace(settings, per_database=max_size)
        if acquire_timeout is not None:
            settings = dataclasses.replace(settings, wait_seconds=acquire_timeout)
        self.settings = settings
        self.limits = limits or LimitsBook(None, Limits())
        self._store = store
        self._readonly_dsn = readonly_dsn
        self._gone = gone
        self._pools: dict[PoolKey, DatabasePool] = {}
        self.share = WHOLE  # this origin's part of every budget, while other origins are live too
        self._hosts: dict[str, HostBudget] = {}
        self._opening: dict[PoolKey, _Opening] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._moving: set[str] = set()  # databases moving to another host now: BW3011 at once

    async def _pool(self, database_id: str, read_only: bool) -> DatabasePool:
        key = (database_id, read_only)
        found = self._pools.get(key)
        if found is not None:
            return found
        opening = self._opening.setdefault(key, _Opening())
        async with opening.lock:
            if key in self._pools:
                return self._pools[key]
            db = await self._store.database_by_id(database_id)
            if db is None:
                raise self._gone(database_id)
            if db.moving_since is not None:
                self._moving.add(database_id)
                raise database_moving(db.name)
            dsn = db.dsn
            if read_only:
                dsn = db.readonly_dsn or await self._made_readonly_dsn(db)
            host = self._hosts.get(db.host_id)
            if host is None:
                host = self._hosts[db.host_id] = HostBudget(
                    db.host_id, self.share.of(self.settings.per_host), self.settings
                )
            limits = await self.limits.of(database_id)
            sibling = self._pools.get((database_id, not read_only))
            pool = DatabasePool(
                database_id,
                dsn,
                host,
                self.settings,
                self._tasks,
                limits,
                read_only=read_only,
                sibling=sibling,
                limit=self.share.of(self.settings.per_database),
            )
            host.pools[key] = pool
            self._pools[key] = pool
            self._start_reaper()
            return pool

    def divide(self, share: Share) -> None:
        """Hold `share` of every host's budget and every database's limit from now on (the live
        origins changed; see peers.py)."""
        if share == self.share:
            return
        log.info(
            "connection budgets divided anew",
            extra={"fields": {"origins": share.count, "rank": share.rank}},
        )
        self.share = share
        for host in self._hosts.values():
            host.resize(share.of(self.settings.per_host))
        for pool in self._pools.values():
            pool.resize(share.of(self.settings.per_database))

    async def _made_readonly_dsn(self, db: Database) -> str:
        if self._readonly_dsn is None:
            raise UpstreamError(
                f"The database {db.name} has no read-only role, and no host agent to make one."
            )
        return await self._readonly_dsn(db)

    async def lease(
        self, database_id: str, timeout: float | None = None, *, read_only: bool = False
    ) -> Lease:
        """A connection to `database_id`, waiting in line up to `timeout` (default: the pool's wait);
        with `read_only`, one of the database's read-only role (read-only keys)."""
        for attempt in (1, 2):
            if database_id in self._moving:
                raise database_moving(database_id)
            pool = await self._pool(database_id, read_only)
            pool.use_limits(await self.limits.of(database_id))
            try:
                loan = await pool.acquire(self.settings.wait_seconds if timeout is None else timeout)
            except Relocating:
                if attempt == 1 and await self.refresh(database_id):
                    continue  # it moved: its pools open again at the new address
                raise database_moving(database_id) from None
            return Lease(loan.conn, pool, loan)
        raise AssertionError("unreachable")

    async def refresh(self, database_id: str) -> bool:
        """Read the database's record again (it is moving, or moved): while it moves its requests get
        BW3011 at once and its pools close; once it moved, pools at its old address close. True when
        a pool was closed because the database lives elsewhere now."""
        db = await self._store.database_by_id(database_id)
        if db is None:
            self._moving.discard(database_id)
            await self.forget(database_id)
            return False
        if db.moving_since is not None:
            self._moving.add(database_id)
            await self.forget(database_id, database_moving(db.name))
            return False
        self._moving.discard(database_id)
        replaced = False
        for read_only, dsn in ((False, db.dsn), (True, db.readonly_dsn)):
            pool = self._pools.get((database_id, read_only))
            if pool is not None and pool.dsn != dsn:
                await self._forget_pool((database_id, read_only), database_moving(db.name))
                replaced = True
        return replaced

    def moving(self) -> set[str]:
        """The databases this origin answers BW3011 for."""
        return set(self._moving)

    @contextlib.asynccontextmanager
    async def connection(
        self, database_id: str, timeout: float | None = None, *, read_only: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """A connection for the platform's own short work (never taken back, not bounded)."""
        lease = await self.lease(database_id, timeout, read_only=read_only)
        try:
            yield lease.conn
        finally:
            await lease.release()

    @contextlib.asynccontextmanager
    async def serving(
        self, database_id: str, *, read_only: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one request's work, within the database's limits (query time, result
        bytes; see guard.py) and given up if the fair-share rule takes it back (BW3003); with
        `read_only`, one of the database's read-only role."""
        lease = await self.lease(database_id, read_only=read_only)
        try:
            async with bounded(lease.conn, lease._pool.limits) as scope:
                lease.loan.stop = lambda: scope.stop(reclaimed(), "reclaimed")
                yield lease.conn
        except (asyncpg.InterfaceError, OSError) as exc:
            if not lease.conn.is_closed():
                raise
            if await self._moves_now(database_id):
                raise database_moving(database_id) from None
            host_id = lease._pool.host.host_id
            if await proxy_refuses(lease._pool.dsn):
                raise host_unavailable(
                    host_id, "the connection dropped and its proxy refuses new ones"
                ) from None
            raise connection_lost(host_id, exc) from None
        except (asyncpg.PostgresError, BreakwaterError) as exc:
            # A move's fence ends the sessions still open after its grace (admin_shutdown; the
            # engine reports it as the session ending, P6008): the request in flight is told the
            # database moves, as the next ones will be.
            ended = exc.code is Code.UPSTREAM if isinstance(exc, BreakwaterError) else session_ended(exc)
            if ended and await self._moves_now(database_id):
                raise database_moving(database_id) from None
            raise
        finally:
            await lease.release()

    async def _moves_now(self, database_id: str) -> bool:
        if database_id in self._moving:
            return True
        db = await self._store.database_by_id(database_id)
        return db is not None and db.moving_since is not None

    async def forget(self, database_id: str, error: BreakwaterError | None = None) -> None:
        """Close a database's pools (it was deleted, or moves); requests waiting for them fail (with
        `error`, if given)."""
        for read_only in (False, True):
            await self._forget_pool((database_id, read_only), error)

    async def _forget_pool(self, key: PoolKey, error: BreakwaterError | None = None) -> None:
        pool = self._pools.pop(key, None)
        if pool is not None:
            pool.host.pools.pop(key, None)
            await pool.close(error)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for host in self._hosts.values():
            host.close()
        for key in list(self._pools):
            await self._forget_pool(key)
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task

    def figures(self) -> dict[str, Any]:
        """Per database: in use, idle, waiting, wait times; per host: the budget and its use."""
        return {
            "settings": dataclasses.asdict(self.settings),
            "share": {"origins": self.share.count, "rank": self.share.rank},
            "hosts": [h.figures() for h in self._hosts.values()],
            "databases": [p.figures() for p in self._pools.values()],
        }

    # --- closing what is idle -------------------------------------------------------------------

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = min(max(self.settings.idle_seconds / 4, 0.02), 30.0)
        while self._pools:
            await asyncio.sleep(interval)
            await self.reap()

    async def reap(self) -> None:
        """Close connections idle longer than the idle time, and pools nobody used that long."""
        cutoff = time.monotonic() - self.settings.idle_seconds
        for key, pool in list(self._pools.items()):
            await pool.close_idle(cutoff)
            if pool.size == 0 and not pool.waiters and not pool.requested and pool.last_used < cutoff:
                log.info("closing an idle pool", extra={"fields": {"database": key[0], "read_only": key[1]}})
                await self._forget_pool(key)


async def read_as_prisma_does(conn: asyncpg.Connection) -> None:
    """Decode values the way Prisma's driver does where asyncpg's binary codecs differ: a float4 is
    Postgres's shortest text of it (0.1), not the double it widens to (0.10000000149011612); a date
    or timestamp Python cannot hold (infinity, year 10000, BC) is Postgres's text (`pgtime`)."""
    await conn.set_type_codec("float4", schema="pg_catalog", encoder=str, decoder=float, format="text")
    await pgtime.install(conn)
