"""Connections to tenant databases: a pool of asyncpg connections per database, opened on first use
and closed when idle, all inside a connection budget per host that is never exceeded.

Every front borrows through `connection()` (one query or operation) or `lease()` (held across
requests, for interactive transactions); how pools are sized, shared and closed lives here only.

- Per database: at most `per_database` connections. A request that finds none free waits in line
  (first come, first served) up to its wait time, then fails with P2024, Prisma's pool timeout,
  never with Postgres's "too many connections".
- Per host: at most `per_host` connections over all its databases. A database that needs a
  connection while the host is full takes an idle one of another database (closing it first), or
  waits in the host's line. A database holding more than its share while others wait gives a
  connection up on release, so one busy tenant cannot starve the rest.
- A slot counts as used from the moment a connection is being opened until it is closed, and a
  close waits for the server to end the session, so Postgres never sees more than the budget.

Connections go to the host's wake-on-connect proxy (the DSN the control plane holds), which thaws
a paused instance before it forwards a byte to it: a pooled connection survives a pause, and its
next query resumes the instance first. A hibernated instance ends its sessions; the pool notices
the closed connection, drops it, and opens a new one, which starts the instance again.

asyncpg.Pool is per database and cannot share a budget with others or give up an idle connection
for another database; the connections here are plain asyncpg connections, reset on release the
way asyncpg.Pool resets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from .control.store import ControlStore
from .errors import BreakwaterError, Unauthorized, UpstreamError

log = logging.getLogger("breakwater.pool")


class PoolTimeout(BreakwaterError):
    """No connection became free in time (Prisma's pool timeout)."""

    status = 503
    code = "P2024"


@dataclass(frozen=True)
class PoolSettings:
    per_database: int = 10
    per_host: int = 100
    wait_seconds: float = 10.0  # how long a request waits in line for a connection
    idle_seconds: float = 360.0  # a connection (and a pool) unused this long is closed
    connect_seconds: float = 15.0  # opening one connection, waking its database included

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
        )


@dataclass
class Lease:
    """A connection held beyond one request; `release()` gives it back (a second call does nothing)."""

    conn: asyncpg.Connection
    _pool: DatabasePool
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
    """The connection slots of one host, shared by its databases' pools."""

    def __init__(self, host_id: str, limit: int) -> None:
        self.host_id = host_id
        self.limit = limit
        self.used = 0  # opening, open (idle or in use), or closing
        self.queue: deque[DatabasePool] = deque()  # one entry per slot a pool asked for, in order
        self.pools: dict[str, DatabasePool] = {}

    def request(self, pool: DatabasePool) -> bool:
        """A slot for `pool`: True if taken at once; otherwise it is granted later via `slot_granted`."""
        if self.queue:
            # Others asked first. (No idle connection is left anywhere while they wait: every one
            # released meanwhile went to them.)
            self.queue.append(pool)
            return False
        if self.used < self.limit:
            self.used += 1
            return True
        victim = self._idle_elsewhere(pool)
        if victim is not None:
            owner, idle = victim
            owner.idle.remove(idle)
            owner.spawn(owner.close_then(idle.conn, hand_to=pool))
            return False
        self.queue.append(pool)
        return False

    def give_back(self) -> None:
        """A slot was freed (its connection is closed): the next pool in line gets it."""
        while self.queue:
            pool = self.queue.popleft()
            if pool.slot_granted():
                return
        self.used -= 1

    def transfer(self, to: DatabasePool) -> None:
        """A slot freed on purpose for `to` goes to it, or to the line if it no longer needs it."""
        if not to.slot_granted():
            self.give_back()

    def fair_share(self) -> int:
        wanting = sum(1 for p in self.pools.values() if p.in_use or p.waiters or p.opening)
        return max(1, math.ceil(self.limit / max(1, wanting)))

    def _idle_elsewhere(self, pool: DatabasePool) -> tuple[DatabasePool, _Idle] | None:
        """The longest-idle connection of another database on this host."""
        oldest: tuple[DatabasePool, _Idle] | None = None
        for other in self.pools.values():
            if other is not pool and other.idle and (oldest is None or other.idle[0].since < oldest[1].since):
                oldest = (other, other.idle[0])
        return oldest

    def figures(self) -> dict[str, Any]:
        return {
            "host": self.host_id,
            "budget": self.limit,
            "used": self.used,
            "waiting_pools": len(self.queue),
        }


class DatabasePool:
    """The connections of one database."""

    def __init__(
        self,
        database_id: str,
        dsn: str,
        host: HostBudget,
        settings: PoolSettings,
        tasks: set[asyncio.Task[Any]],
    ) -> None:
        self.database_id = database_id
        self.dsn = dsn
        self.host = host
        self.settings = settings
        self.limit = settings.per_database
        self.idle: list[_Idle] = []  # most recently used last
        self.in_use = 0
        self.opening = 0
        self.requested = 0  # slots asked of the host, not granted yet
        self.waiters: deque[asyncio.Future[asyncpg.Connection]] = deque()
        self.last_used = time.monotonic()
        self.closed = False
        self._tasks = tasks
        # figures
        self.acquired = 0
        self.timeouts = 0
        self.opened = 0
        self.closed_connections = 0
        self.wait_total = 0.0
        self.wait_max = 0.0
        self.recent_waits: deque[float] = deque(maxlen=1024)

    @property
    def size(self) -> int:
        return len(self.idle) + self.in_use + self.opening

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- borrowing ------------------------------------------------------------------------------

    async def acquire(self, timeout: float) -> asyncpg.Connection:
        started = time.monotonic()
        self.last_used = started
        while self.idle and not self.waiters:
            conn = self.idle.pop().conn
            if conn.is_closed():
                self._lost()
                continue
            self.in_use += 1
            self._count_wait(0.0)
            return conn
        waiter: asyncio.Future[asyncpg.Connection] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self._grow()
        try:
            async with asyncio.timeout(timeout):
                conn = await waiter
        except BaseException as exc:
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
        self._count_wait(time.monotonic() - started)
        return conn

    async def release(self, conn: asyncpg.Connection) -> None:
        self.last_used = time.monotonic()
        if not conn.is_closed():
            try:
                # What asyncpg.Pool does on release: roll back, close cursors, unlisten, RESET ALL.
                await conn.reset(timeout=5)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                conn.terminate()
        self.in_use -= 1
        if conn.is_closed():
            self._lost()
            return
        self._put(conn)

    def _put(self, conn: asyncpg.Connection) -> None:
        """A clean connection is free: to the next waiter, to another database, or idle."""
        if self.closed:
            self.spawn(self.close_then(conn))
            return
        others_wait = any(p is not self for p in self.host.queue)
        if others_wait and (not self._live_waiters() or self.size >= self.host.fair_share()):
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

    # --- growing and shrinking ------------------------------------------------------------------

    def _grow(self) -> None:
        """Ask for as many slots as there are waiters without a connection coming, within the limit."""
        if self.closed:
            return
        while (
            self._live_waiters() > self.opening + self.requested and self.size + self.requested < self.limit
        ):
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
        if self.closed or self._live_waiters() <= self.opening or self.size >= self.limit:
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
        self._put(conn)

    async def _connect(self) -> asyncpg.Connection:
        """Open a connection, retrying while the host's proxy restarts or the database wakes up."""
        deadline = time.monotonic() + self.settings.connect_seconds
        delay = 0.02
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=max(0.1, deadline - time.monotonic()))
                await read_as_prisma_does(conn)
                return conn
            except (OSError, asyncpg.CannotConnectNowError, TimeoutError) as exc:
                if time.monotonic() + delay > deadline:
                    raise UpstreamError(
                        f"The database could not be reached: {exc}",
                        hint="Check that its host agent is running; `breakwater db list` shows the host.",
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
            except asyncpg.TooManyConnectionsError as exc:
                raise UpstreamError(
                    f"The database refused another connection: {exc}",
                    hint="Other clients hold its connections; lower their number or the pool's limit.",
                ) from None
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise UpstreamError(f"Connecting to the database failed: {exc}") from None

    async def close_then(self, conn: asyncpg.Connection, hand_to: DatabasePool | None = None) -> None:
        """Close a connection (waiting for the server to end the session), then free its slot."""
        try:
            await asyncio.wait_for(conn.close(), 5)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            conn.terminate()
        self.closed_connections += 1
        if hand_to is not None:
            self.host.transfer(hand_to)
        else:
            self.host.give_back()
        self._grow()

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

    async def close(self) -> None:
        self.closed = True
        idle, self.idle = self.idle, []
        for entry in idle:
            await self.close_then(entry.conn)
        while (waiter := self._next_waiter()) is not None:
            waiter.set_exception(UpstreamError("The database's pool was closed.", hint="Retry."))

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
    ) -> None:
        settings = settings or PoolSettings.from_env()
        if max_size is not None:
            settings = dataclasses.replace(settings, per_database=max_size)
        if acquire_timeout is not None:
            settings = dataclasses.replace(settings, wait_seconds=acquire_timeout)
        self.settings = settings
        self._store = store
        self._pools: dict[str, DatabasePool] = {}
        self._hosts: dict[str, HostBudget] = {}
        self._opening: dict[str, _Opening] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None

    async def _pool(self, database_id: str) -> DatabasePool:
        found = self._pools.get(database_id)
        if found is not None:
            return found
        opening = self._opening.setdefault(database_id, _Opening())
        async with opening.lock:
            if database_id in self._pools:
                return self._pools[database_id]
            db = await self._store.database_by_id(database_id)
            if db is None:
                raise Unauthorized("API key is invalid: its database no longer exists.")
            host = self._hosts.get(db.host_id)
            if host is None:
                host = self._hosts[db.host_id] = HostBudget(db.host_id, self.settings.per_host)
            pool = DatabasePool(database_id, db.dsn, host, self.settings, self._tasks)
            host.pools[database_id] = pool
            self._pools[database_id] = pool
            self._start_reaper()
            return pool

    async def lease(self, database_id: str, timeout: float | None = None) -> Lease:
        """A connection to `database_id`, waiting in line up to `timeout` (default: the pool's wait)."""
        pool = await self._pool(database_id)
        conn = await pool.acquire(self.settings.wait_seconds if timeout is None else timeout)
        return Lease(conn, pool)

    @contextlib.asynccontextmanager
    async def connection(
        self, database_id: str, timeout: float | None = None
    ) -> AsyncIterator[asyncpg.Connection]:
        lease = await self.lease(database_id, timeout)
        try:
            yield lease.conn
        finally:
            await lease.release()

    async def forget(self, database_id: str) -> None:
        """Close a database's pool (it was deleted); requests waiting for it fail."""
        pool = self._pools.pop(database_id, None)
        if pool is not None:
            pool.host.pools.pop(database_id, None)
            await pool.close()

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for database_id in list(self._pools):
            await self.forget(database_id)
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task

    def figures(self) -> dict[str, Any]:
        """Per database: in use, idle, waiting, wait times; per host: the budget and its use."""
        return {
            "settings": dataclasses.asdict(self.settings),
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
        for database_id, pool in list(self._pools.items()):
            await pool.close_idle(cutoff)
            if pool.size == 0 and not pool.waiters and not pool.requested and pool.last_used < cutoff:
                log.info("closing an idle pool", extra={"fields": {"database": database_id}})
                await self.forget(database_id)


async def read_as_prisma_does(conn: asyncpg.Connection) -> None:
    """Decode values the way Prisma's driver does where asyncpg's binary codecs differ: a float4 is
    Postgres's shortest text of it (0.1), not the double it widens to (0.10000000149011612)."""
    await conn.set_type_codec("float4", schema="pg_catalog", encoder=str, decoder=float, format="text")
