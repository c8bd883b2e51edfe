"""Connections to tenant databases: a pool of asyncpg connections per database, opened on first use
and closed when idle, all inside a connection budget per host that is never exceeded.

Every front borrows through `serving()` (one request's work, bounded by the database's limits),
`lease()` (held across requests, for interactive transactions) or `connection()` (the platform's own
short work); how pools are sized, shared and closed lives here only.

- Per database: at most `per_database` connections. A request that finds none free waits in line
  (first come, first served) up to its wait time, then fails with P2024, Prisma's pool timeout,
  never with Postgres's "too many connections". At most `waiting_requests` (a per-database limit)
  wait at once; more get BW1429 at once.
- Per host: at most `per_host` connections over all its databases, shared fairly among the active
  ones; a database far above its share gives connections back to a starving one (pool/host.py
  states the rules).
- Several origin processes divide both budgets: each holds its `Share` (shares.py, from the live
  origins peers.py sees) of `per_host` and of `per_database`, and the rules here work within it.
  When the share grows, the line gets the new slots at once; when it shrinks, idle connections
  beyond it close at once and connections in use close as they come back. The host's proxy refuses
  sessions beyond the host's whole budget (hosts/proxy.py), which covers the moments when the
  origins' views of who is live differ; `connect` (pool/connect.py) waits through such a refusal.
- A slot counts as used from the moment a connection is being opened until it is closed, and a
  close waits for the server to end the session, so Postgres never sees more than the budget.
- Read-only callers get connections of the database's read-only role (`read_only=True`), from a
  second pool of the database that shares the database's limit (pool/database.py).

Several hosts. Each database's connections go to its own host's proxy (the DSN the control plane
holds), and each host has its own budget. A host whose proxy does not answer makes only its own
databases fail, with BW3010 naming it, after `unreachable_seconds` of retries (an agent restarting
is back well within them). While a database moves to another host (control/moves.py) its requests
get BW3011 at once; when the proxy says it moved, the database's record is read again and the pool
opened anew at the new address.

The parts live in `origin/pool/`: `settings`, `errors`, `loans`, `host` (a host's budget and the
fair-share rules), `database` (one database's connections, per role), `connect` (opening one
through the host's wake-on-connect proxy). This module is their front: it opens pools as databases
are first used, holds the hosts' budgets, divides them among origins, follows moves and closes
what is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bwcontract.codes import Code
from bwservice.tasks import cancel_and_wait

from .control.store import ControlStore, Database
from .dberrors import session_ended
from .errors import BreakwaterError, UpstreamError, database_moving, host_unavailable
from .guard import bounded
from .limits import Limits, LimitsBook
from .pool.database import DatabasePool
from .pool.errors import Relocating, connection_lost, database_gone, proxy_refuses, reclaimed
from .pool.host import HostBudget
from .pool.loans import Loan
from .pool.settings import PoolKey, PoolSettings
from .shares import WHOLE, Share

log = logging.getLogger("breakwater.pool")

ReadOnlyDsn = Callable[[Database], Awaitable[str]]  # made by the host agent when the database has none


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

    def release_soon(self) -> None:
        """Give the connection back, its reset running after the caller's answer went out (the
        reset's round trip off the request's path); nobody gets it before the reset is done."""
        if self._released:
            return
        self._released = True
        self._pool.release_soon(self.conn)


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
        `read_only`, one of the database's read-only role. The connection is reset after the block,
        in the background (`Lease.release_soon`): the answer does not wait for the reset's round trip,
        and the connection is lent again only once it is reset."""
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
            lease.release_soon()

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
        await cancel_and_wait(self._reaper)
        self._reaper = None
        for host in self._hosts.values():
            host.close()
        for key in list(self._pools):
            await self._forget_pool(key)
        # A reset that finishes now closes its connection, in a task of its own: wait for those too.
        while self._tasks:
            for task in list(self._tasks):
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task
                self._tasks.discard(task)

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
