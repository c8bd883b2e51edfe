"""An instance's life cycle: start, pause, resume, hibernate, wake; noticing that it died; removing it.

The invariant that makes pausing safe: every byte the proxy forwards to an instance goes through
`resume_now()` first, which thaws a paused instance synchronously, on the event loop. Pausing
itself ends in a synchronous step too (`pause`: from the last look at the instance to the freeze
there is no await), so a pause and a forwarded byte can never interleave. The proxy keeps its half
in proxy.py (`ClientSide.data_received`, `_connect`, `Proxy.cancel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable

import asyncpg

from bwservice import pinned

from . import freezer, hardening
from .inventory import Inventory, Managed
from .ports import new_port, port_free
from .postgres import PostgresError, PostgresInstance

log = logging.getLogger("breakwater.hosts")

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


class Lifecycle:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def place(self, managed: Managed, pid: int) -> None:
        """Put a postmaster into its instance's freezer group (and remember the group)."""
        group = self.inventory.group_for(managed.name)
        self.inventory.freezer.place(group, pid)
        if group != managed.instance.meta.group:
            meta = managed.instance.meta
            meta.group = group
            managed.instance.save_meta(meta)

    async def _start(self, managed: Managed) -> None:
        """Spawn the postmaster and wait for it (call with the lock held)."""
        started = time.monotonic()
        managed.state = "starting"
        try:
            for attempt in range(3):
                self._ensure_port(managed, fresh=attempt > 0)
                pid = managed.instance.spawn()
                self.place(managed, pid)
                try:
                    await _poll(managed.instance.started, START_TIMEOUT, f"{managed.name} to start")
                except PostgresError as exc:
                    if "could not bind" in str(exc) or "already in use" in str(exc):
                        continue  # someone took the port while the instance slept: pick another
                    raise
                break
            else:
                raise PostgresError(f"{managed.name} found no free port to listen on")
        except BaseException:
            managed.state = "hibernated"
            managed.pid = None
            raise
        managed.pid = pid
        managed.state = "running"
        managed.starts += 1
        managed.last_start_ms = round((time.monotonic() - started) * 1000, 2)
        managed.touch()
        if hardening.needed(managed.instance):
            await self.harden(managed)

    async def harden(self, managed: Managed) -> None:
        """The SQL part of bringing an instance up to date (hardening.py); retried at its next start."""
        try:
            await hardening.harden(managed.instance)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning(
                "could not update an instance's privileges",
                extra={"fields": {"instance": managed.name, "error": str(exc)}},
            )

    def _ensure_port(self, managed: Managed, fresh: bool) -> None:
        # Ports of sleeping instances are not held by anyone; the proxy reads the port on every
        # connect, so moving an instance to another port is invisible to clients.
        meta = managed.instance.meta
        taken = self.inventory.ports_taken(besides=managed)
        if fresh or meta.port in taken or not port_free(meta.port):
            meta.port = new_port(taken)
            managed.instance.save_meta(meta)

    def resume_now(self, managed: Managed) -> None:
        """Thaw a paused instance, synchronously: the caller forwards bytes to it next."""
        if managed.state != "paused" or managed.pid is None:
            return
        group = managed.group
        chosen = self.inventory.freezer
        if group and chosen.kind != "signals" and group.startswith(str(chosen.base)):
            chosen.thaw(group, managed.pid)
        else:
            freezer.thaw_any(group, managed.pid)
        managed.state = "running"
        managed.resumes += 1

    def notice_exit(self, managed: Managed) -> bool:
        """If the postmaster is gone (a crash, an OOM kill), count the instance as hibernated so the
        next connection starts it again; True if that happened."""
        if managed.state not in ("running", "paused") or managed.instance.pid() is not None:
            return False
        log.warning("an instance exited on its own", extra={"fields": {"instance": managed.name}})
        managed.state = "hibernated"
        managed.pid = None
        managed.upstream_pids.clear()
        return True

    async def wake(self, managed: Managed) -> None:
        """Make the instance answer: thaw it if paused, start it if hibernated."""
        if managed.state == "running":
            return
        if managed.state == "paused":
            self.resume_now(managed)
            return
        async with managed.lock:
            if managed.state == "paused":
                self.resume_now(managed)
            elif managed.state == "hibernated":
                await self._start(managed)

    async def pause(self, managed: Managed, *, if_idle: bool = False) -> bool:
        """Freeze the instance's process tree; with `if_idle`, only if nothing runs inside it."""
        async with managed.lock:
            if managed.state != "running" or managed.pid is None:
                return managed.state == "paused"
            if if_idle:
                seen = managed.last_active
                if managed.busy or await _in_use(managed) or managed.last_active != seen:
                    managed.touch()  # look again a full idle period later
                    return False
            # No await from here on: no byte can reach the instance between the check and the freeze.
            if managed.busy or managed.state != "running":
                return False
            self.inventory.freezer.freeze(managed.group, managed.pid)
            managed.state = "paused"
            managed.pauses += 1
            pid, group = managed.pid, managed.group
        # Freezing completes asynchronously; report it done once it is, unless woken meanwhile.
        deadline = time.monotonic() + 5
        while managed.state == "paused" and not freezer.settled(group, pid):
            if time.monotonic() > deadline:
                log.warning("freeze did not settle", extra={"fields": {"instance": managed.name}})
                break
            await asyncio.sleep(0.0005)
        return True

    async def hibernate(self, managed: Managed, *, if_idle: bool = False) -> bool:
        """Stop the instance (fast shutdown: sessions end, a checkpoint is written)."""
        async with managed.lock:
            if managed.state == "hibernated":
                return True
            if managed.pid is None:
                managed.state = "hibernated"
                return True
            if if_idle:
                seen = managed.last_active
                self.resume_now(managed)  # to look inside; it stops right after
                if managed.busy or await _in_use(managed) or managed.last_active != seen:
                    managed.touch()
                    return False
            managed.state = "stopping"
            try:
                pid = managed.instance.request_stop("fast")
                if pid is not None:
                    await _poll(
                        lambda: managed.instance.is_stopped(pid), STOP_TIMEOUT, f"{managed.name} to stop"
                    )
            except BaseException:
                managed.state = "running" if managed.instance.pid() else "hibernated"
                raise
            managed.state = "hibernated"
            managed.pid = None
            managed.upstream_pids.clear()
            managed.hibernations += 1
        return True

    async def restart(self, managed: Managed) -> None:
        """Stop and start again (to apply configuration); a hibernated instance just starts."""
        await self.hibernate(managed)
        await self.wake(managed)

    @contextlib.asynccontextmanager
    async def awake(self, managed: Managed) -> AsyncIterator[PostgresInstance]:
        """Hold the instance awake for an agent operation inside it."""
        managed.busy += 1
        try:
            await self.wake(managed)
            yield managed.instance
        finally:
            managed.busy -= 1
            managed.touch()


async def _in_use(managed: Managed) -> bool:
    """Whether a query runs inside, or a client is connected that did not come through the proxy
    (such a client could not wake the instance: never freeze or stop under it).

    Change capture's WAL senders are the exception: they only ever wait for changes, and a change
    needs a writer, who comes through the proxy and wakes the instance (a frozen sender resumes
    where it was; a stopped one is reconnected by the origin's reader once the instance is up)."""
    try:
        conn = await pinned.connect(managed.instance.dsn(), timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.warning("could not look inside", extra={"fields": {"instance": managed.name, "error": str(exc)}})
        return True
    try:
        rows = await conn.fetch(
            "SELECT state, pid FROM pg_catalog.pg_stat_activity "
            "WHERE pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() "
            "AND (backend_type OPERATOR(pg_catalog.=) 'client backend' "
            "OR (backend_type OPERATOR(pg_catalog.=) 'walsender' "
            "AND usename OPERATOR(pg_catalog.!~~) 'c\\_%'))"
        )
    finally:
        await conn.close()
    return any(r["state"] == "active" or r["pid"] not in managed.upstream_pids for r in rows)


async def _poll(ready: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise PostgresError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.001)


def remove_instance(instance: PostgresInstance) -> None:
    """Stop an instance at once and delete its files and freezer group (nothing of it is kept)."""
    group = ""
    if instance.meta_path.exists():
        with contextlib.suppress(PostgresError, ValueError, TypeError, OSError):
            group = instance.meta.group
            instance.stop("immediate")
            if instance.socket_dir() != instance.data_dir:  # its own, under the temporary directory
                shutil.rmtree(instance.socket_dir(), ignore_errors=True)
    freezer.remove_group(group)
    shutil.rmtree(instance.root, ignore_errors=True)
    shutil.rmtree(instance.root.with_name(instance.root.name + ".partial"), ignore_errors=True)
