"""Draining hosts: every origin runs a `Drainer`; for each host an operator set `draining`, one of them
(a session advisory lock per host) moves its databases, one at a time, to the hosts placement picks
among the others, and marks the host `drained` once none is left. The same loop finishes or undoes
moves whose mover died (`Mover.recover`).

A move that fails is undone (the database keeps serving where it was) and tried again on a later
round; the host stays `draining` until every database has left. `host uncordon` stops a drain after
the move under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from ..errors import BreakwaterError
from .hostrecords import HostStore
from .moves import Mover
from .placement import PlacementRules, choose
from .store import ControlStore, Database

log = logging.getLogger("breakwater.moves")

DRAIN_LOCK = 0x42574452  # "BWDR": one drainer per host
HOSTS_CHANNEL = "breakwater_hosts"


class Drainer:
    def __init__(
        self,
        control_dsn: str,
        store: ControlStore,
        hosts: HostStore,
        mover: Mover,
        rules: PlacementRules,
        interval: float = 2.0,
    ) -> None:
        self._dsn = control_dsn
        self._store = store
        self._hosts = hosts
        self._mover = mover
        self._rules = rules
        self._interval = interval
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._retry_after: dict[str, float] = {}  # host: when a drain with failures may run again

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    def poke(self) -> None:
        self._poke.set()

    async def stop(self) -> None:
        for task in [self._task, *self._drains.values()]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def draining(self) -> list[str]:
        return sorted(h for h, t in self._drains.items() if not t.done())

    async def _loop(self) -> None:
        listener: asyncpg.Connection | None = None
        while True:
            try:
                if listener is None or listener.is_closed():
                    listener = await asyncpg.connect(self._dsn)
                    await listener.add_listener(HOSTS_CHANNEL, lambda *_: self._poke.set())
                await self._round()
            except asyncio.CancelledError:
                if listener is not None:
                    listener.terminate()
                raise
            except Exception as exc:  # the loop outlives any one round: drains and recovery need it
                log.warning("draining round failed", extra={"fields": {"error": repr(exc)}})
                if listener is not None:
                    listener.terminate()
                    listener = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self._interval)
            self._poke.clear()

    async def _round(self) -> None:
        await self._mover.recover()
        loop = asyncio.get_running_loop()
        for host in await self._hosts.list():
            running = self._drains.get(host.id)
            if host.state != "draining" or (running is not None and not running.done()):
                continue
            if self._retry_after.get(host.id, 0) > loop.time():
                continue
            self._drains[host.id] = asyncio.ensure_future(self._drain(host.id))

    async def _drain(self, host_id: str) -> None:
        lock = await asyncpg.connect(self._dsn)
        try:
            if not await lock.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", DRAIN_LOCK, host_id):
                return  # another origin drains it
            failed = 0
            for db in await self._databases_on(host_id):
                host = await self._hosts.get(host_id)
                if host is None or host.state != "draining":
                    return  # uncordoned meanwhile
                if not await self._move(db, host_id):
                    failed += 1
            if failed:
                self._retry_after[host_id] = asyncio.get_running_loop().time() + 5 * self._interval
                return
            left = await self._databases_on(host_id)
            host = await self._hosts.get(host_id)
            if not left and host is not None and host.state == "draining":
                await self._hosts.set_state(host_id, "drained")
                log.info("host drained", extra={"fields": {"host": host_id}})
        except Exception as exc:  # a later round drains it again
            log.warning(
                "draining stopped; again shortly", extra={"fields": {"host": host_id, "error": repr(exc)}}
            )
        finally:
            with contextlib.suppress(Exception):
                await lock.close()

    async def _databases_on(self, host_id: str) -> list[Database]:
        rows = await self._store.pool.fetch(
            "SELECT id FROM databases WHERE host_id = $1 AND deleted_at IS NULL ORDER BY created_at", host_id
        )
        found = [await self._store.database_by_id(str(r["id"])) for r in rows]
        return [db for db in found if db is not None]

    async def _move(self, db: Database, source: str) -> bool:
        try:
            target = choose(
                await self._hosts.list(),
                db.placement,
                await self._hosts.now(),
                self._rules,
                exclude={source: "being drained"},
            )
            summary: dict[str, Any] = await self._mover.move(db, target.id)
        except BreakwaterError as exc:
            log.warning(
                "a database could not be moved yet",
                extra={"fields": {"database": db.id, "error": exc.message}},
            )
            return False
        log.info("drained a database", extra={"fields": summary})
        return True
