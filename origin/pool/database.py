"""The connections of one database and role (`DatabasePool`): lent in line order, given back, kept
idle, grown and shrunk within the database's limit and its host's budget (host.py, whose fair-share
rules the comments here name by number).

Read-only callers get connections of the database's read-only role (`read_only=True`), from a
second pool of the database. The two pools share the database's limit: a pool at the limit takes
an idle connection of the other (closing it), and a connection released while the other role
waits at the limit is closed so the other can open one, so that both roles, when both wait, end
up with half the connections each. A connection never changes role: Postgres cannot switch a
session's role in a way the session could not undo. For the fair share each role's pool counts
as a pool of its own (the database's limit still bounds the two together).

asyncpg.Pool is per database and cannot share a budget with others or give up an idle connection
for another database; the connections here are plain asyncpg connections, reset on release the
way asyncpg.Pool resets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import asyncpg

from ..errors import BreakwaterError, UpstreamError
from ..limits import Limits, too_many_waiting
from .connect import connect, reset
from .errors import PoolTimeout
from .host import HostBudget
from .loans import Idle, Loan
from .settings import PoolSettings


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
        self.idle: list[Idle] = []  # most recently used last
        self.in_use = 0
        self.resetting = 0  # given back, their reset not done yet: they come back to the line
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

    def release_soon(self, conn: asyncpg.Connection) -> None:
        """Give a connection back without waiting for its reset: the request's answer goes out
        first, and the reset's round trip runs after it. The connection stays counted in use until
        its reset is done, so nobody is lent a connection that was not reset; a waiter counts on it
        rather than opening another (`_grow`)."""
        self.resetting += 1
        self.spawn(self._release_counted(conn))

    async def _release_counted(self, conn: asyncpg.Connection) -> None:
        await self.release(conn, counted=True)

    async def release(self, conn: asyncpg.Connection, *, counted: bool = False) -> None:
        self.last_used = time.monotonic()
        loan = self.loans.pop(conn, None)  # from now on the fair-share rule cannot take it back
        taken_back = loan is not None and loan.reclaimed
        try:
            if not taken_back and not conn.is_closed():
                await reset(conn)
        finally:
            if counted:
                self.resetting -= 1
            self._returned(conn, taken_back)

    def _returned(self, conn: asyncpg.Connection, taken_back: bool) -> None:
        """After its reset: the connection goes to the line, or is closed."""
        self.last_used = time.monotonic()
        if taken_back:
            self.host.reclaiming -= 1
            self.reclaimed += 1
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
        self.idle.append(Idle(conn, time.monotonic()))

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
        while self._live_waiters() > self.opening + self.requested + self.resetting:
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
        """Open a connection (connect.py), retrying while the host's proxy restarts or the database
        wakes up."""
        return await connect(self.dsn, lambda: self.limits, self.settings, self.host.host_id)

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
