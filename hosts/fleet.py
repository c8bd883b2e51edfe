"""Every Postgres instance on this host and its life cycle.

An instance is `running`, `paused` (its process tree frozen, memory kept), `hibernated` (stopped,
only files), or on its way between those (`starting`, `stopping`). Two placements share the
machinery: a dedicated instance per database, and the shared cluster holding many databases.

The invariant that makes pausing safe: every byte the proxy forwards to an instance goes through
`resume_now()` first, which thaws a paused instance synchronously, on the event loop. Pausing
itself ends in a synchronous step too, so a pause and a forwarded byte can never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

from origin import pinned

from . import freezer, hardening, idle, privileges, registry, resources, spares, template
from .ports import free_port
from .postgres import InstanceMeta, PostgresError, PostgresInstance
from .privileges import quoted
from .registry import DatabaseRecord, Registry
from .service_user import ServiceUser, service_user
from .settings import AgentSettings
from .shared import SHARED_SETTINGS, SharedCluster

log = logging.getLogger("breakwater.hosts")

SHARED_INSTANCE = "shared-1"
START_TIMEOUT = 60.0
# The agent's own changes (names, passwords) must outlive a crash even on instances configured with
# synchronous_commit = off.
DURABLE_SESSION = {"synchronous_commit": "on"}
SPARES_AFTER = 0.5  # seconds after a provisioning before spares are made again
STOP_TIMEOUT = 60.0


class FleetError(Exception):
    """An operation the caller asked for cannot be done; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RouteError(Exception):
    """The proxy refuses a connection; `sqlstate` and `detail` go into the ErrorResponse."""

    def __init__(self, message: str, sqlstate: str, detail: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail


@dataclass(eq=False)
class Managed:
    """One instance as the agent runs it."""

    name: str
    placement: str  # "shared" (the shared cluster) or "dedicated"
    instance: PostgresInstance
    state: str
    pid: int | None = None
    last_active: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    busy: int = 0  # agent operations inside it right now: never paused meanwhile
    upstream_pids: set[int] = field(default_factory=set)  # backends of proxied connections
    pauses: int = 0
    resumes: int = 0
    starts: int = 0
    hibernations: int = 0
    last_start_ms: float | None = None

    @property
    def group(self) -> str:
        return self.instance.meta.group

    def touch(self) -> None:
        self.last_active = time.monotonic()


class Fleet:
    def __init__(self, settings: AgentSettings, user: ServiceUser | None = None) -> None:
        self.settings = settings
        self.root = settings.root
        self.user = user or service_user()
        self.freezer = freezer.detect(settings.freezer)
        self.scope = freezer.scope_for(self.root)
        self.registry = Registry(self.root)
        self.instances: dict[str, Managed] = {}
        self.databases: dict[str, DatabaseRecord] = {}
        self.shared = SharedCluster(PostgresInstance(self.instances_dir / SHARED_INSTANCE, self.user))
        self.template: template.Template | None = None
        self.copy_mode = "copy"
        self.proxy_port = 0  # set by the proxy once it listens
        self._idle_task: asyncio.Task[None] | None = None
        self._provisioning: set[str] = set()
        self.dedicated_spares: spares.DedicatedSpares | None = None
        self.shared_spares: list[str] | None = None  # None: not looked at yet
        self._refill_task: asyncio.Task[None] | None = None
        self._shared_spares_wanted = False

    @property
    def instances_dir(self) -> Path:
        return self.root / "instances"

    # --- start-up and reconciliation ------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the template, then adopt whatever is on disk and running (nothing is lost)."""
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        self.template = await template.prepare(self.root, self.user, self.settings.durable)
        detected = template.copy_mode(self.template.instance.root, self.instances_dir)
        self.copy_mode = detected if self.settings.copy == "auto" else self.settings.copy
        if self.copy_mode == "reflink" and detected != "reflink":
            raise FleetError(f"reflink copies are not possible under {self.instances_dir}")
        self.dedicated_spares = spares.DedicatedSpares(self.root, self.template.instance.root.name)
        self.dedicated_spares.clean()
        await self.reconcile()
        for managed in list(self.instances.values()):
            if managed.state != "hibernated" and hardening.needed(managed.instance):
                async with self.awake(managed):
                    await self._harden(managed)
        self.refill_spares(shared=self.instances[SHARED_INSTANCE].state == "running")

    async def stop(self) -> None:
        await self.stop_idle_policy()
        if self._refill_task is not None:
            self._refill_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refill_task
            self._refill_task = None

    async def reconcile(self) -> None:
        shared = self.shared.instance
        if not shared.exists():
            shutil.rmtree(shared.root, ignore_errors=True)
            shared.create(durable=self.settings.durable, settings=SHARED_SETTINGS)
        changed = hardening.update_files(shared, SHARED_SETTINGS)
        if changed and shared.pid() is not None:
            log.warning(
                "shared cluster settings updated; those a reload does not apply, apply when it next starts",
                extra={"fields": {"settings": changed}},
            )
        self.instances[SHARED_INSTANCE] = self._adopt(shared, "shared")
        if self.registry.new and shared.data_dir.joinpath("base").exists():
            await self._import_shared_databases()
        records = self.registry.load()
        for root in sorted(p for p in self.instances_dir.iterdir() if p.is_dir()):
            if root.name == SHARED_INSTANCE:
                continue
            database_id = root.name.removeprefix("d-")
            record = records.get(database_id)
            instance = PostgresInstance(root, self.user)
            if record is None or record.instance != root.name or not instance.exists():
                # Provisioning never finished (the record comes last) or destroying never did.
                log.warning("removing a leftover instance", extra={"fields": {"instance": root.name}})
                _remove_instance(instance)
                continue
            hardening.update_files(instance, template.DEDICATED_SETTINGS)
            self.instances[root.name] = self._adopt(instance, "dedicated")
        self._remove_stale_groups()
        for record in records.values():
            if record.instance not in self.instances:
                log.warning("forgetting a database without its instance", extra={"fields": {"id": record.id}})
                self.registry.remove(record.id)
                continue
            self.databases[record.id] = record

    async def _import_shared_databases(self) -> None:
        """Record the databases an agent from before the registry made in the shared cluster."""
        async with self.awake(self.instances[SHARED_INSTANCE]):
            for database_id in await self.shared.list_databases():
                with contextlib.suppress(ValueError):
                    self.registry.add(database_id, "shared", SHARED_INSTANCE)

    def _remove_stale_groups(self) -> None:
        """Empty freezer groups of instances that are gone (destroyed while no agent ran)."""
        probe = self.freezer.group_for(self.scope, "-")
        if not probe:
            return
        scope = Path(probe).parent
        if scope.is_dir():
            for group in list(scope.iterdir()):
                if group.is_dir() and group.name not in self.instances:
                    freezer.remove_group(str(group))

    def _adopt(self, instance: PostgresInstance, placement: str) -> Managed:
        pid = instance.pid()
        managed = Managed(instance.root.name, placement, instance, "hibernated", pid)
        if pid is None:
            return managed
        if freezer.thawed(instance.meta.group, pid):
            managed.state = "running"
            self._place(managed, pid)
        else:
            managed.state = "paused"
        return managed

    def _place(self, managed: Managed, pid: int) -> None:
        group = self.freezer.group_for(self.scope, managed.name)
        self.freezer.place(group, pid)
        if group != managed.instance.meta.group:
            meta = managed.instance.meta
            meta.group = group
            managed.instance.save_meta(meta)

    # --- life cycle -----------------------------------------------------------------------------

    async def _start(self, managed: Managed) -> None:
        """Spawn the postmaster and wait for it (call with the lock held)."""
        started = time.monotonic()
        managed.state = "starting"
        try:
            for attempt in range(3):
                self._ensure_port(managed, fresh=attempt > 0)
                pid = managed.instance.spawn()
                self._place(managed, pid)
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
            await self._harden(managed)

    async def _harden(self, managed: Managed) -> None:
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
        taken = {m.instance.meta.port for m in self.instances.values() if m is not managed}
        if fresh or meta.port in taken or not _port_free(meta.port):
            meta.port = _new_port(taken)
            managed.instance.save_meta(meta)

    def resume_now(self, managed: Managed) -> None:
        """Thaw a paused instance, synchronously: the caller forwards bytes to it next."""
        if managed.state != "paused" or managed.pid is None:
            return
        group = managed.group
        if group and self.freezer.kind != "signals" and group.startswith(str(self.freezer.base)):
            self.freezer.thaw(group, managed.pid)
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
                if managed.busy or await self._in_use(managed) or managed.last_active != seen:
                    managed.touch()  # look again a full idle period later
                    return False
            # No await from here on: no byte can reach the instance between the check and the freeze.
            if managed.busy or managed.state != "running":
                return False
            self.freezer.freeze(managed.group, managed.pid)
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

    async def resume(self, managed: Managed) -> None:
        await self.wake(managed)

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
                if managed.busy or await self._in_use(managed) or managed.last_active != seen:
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

    async def _in_use(self, managed: Managed) -> bool:
        """Whether a query runs inside, or a client is connected that did not come through the proxy
        (such a client could not wake the instance: never freeze or stop under it).

        Change capture's WAL senders are the exception: they only ever wait for changes, and a change
        needs a writer, who comes through the proxy and wakes the instance (a frozen sender resumes
        where it was; a stopped one is reconnected by the origin's reader once the instance is up)."""
        try:
            conn = await pinned.connect(managed.instance.dsn(), timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning(
                "could not look inside", extra={"fields": {"instance": managed.name, "error": str(exc)}}
            )
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

    # --- spares ---------------------------------------------------------------------------------

    def refill_spares(self, shared: bool) -> None:
        """Make spares in the background (shared ones only when asked: it needs the cluster awake)."""
        if self.settings.spares <= 0:
            return
        self._shared_spares_wanted |= shared
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.create_task(self._refill())

    async def _refill(self) -> None:
        try:
            assert self.template is not None and self.dedicated_spares is not None
            # A new database is usually connected to at once: let that go first.
            await asyncio.sleep(SPARES_AFTER)
            while True:
                if len(self.dedicated_spares.ready()) < self.settings.spares:
                    await self.dedicated_spares.make(self.template, self.copy_mode)
                elif self._shared_spares_wanted:
                    self._shared_spares_wanted = False
                    await self._refill_shared()
                else:
                    return
        except (OSError, PostgresError, asyncpg.PostgresError) as exc:
            log.warning("could not make spares", extra={"fields": {"error": str(exc)}})

    async def _refill_shared(self) -> None:
        managed = self.instances[SHARED_INSTANCE]
        async with self.awake(managed):
            conn = await self.shared.admin()
            try:
                if self.shared_spares is None:
                    self.shared_spares = await spares.spare_databases(conn)
                while len(self.shared_spares) < self.settings.spares:
                    self.shared_spares.append(await self.shared.make_spare(conn))
            finally:
                await conn.close()

    async def settle(self) -> None:
        """Wait for background work (spares) to finish: for tests and benchmarks."""
        if self._refill_task is not None:
            await self._refill_task

    # --- the idle policy ------------------------------------------------------------------------

    def start_idle_policy(self) -> None:
        if self._idle_task is None and (self.settings.pause_after > 0 or self.settings.hibernate_after > 0):
            self._idle_task = asyncio.create_task(self._idle_loop())

    async def stop_idle_policy(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
            self._idle_task = None

    async def apply_idle_policy(self) -> None:
        """One pass: pause or hibernate what has been idle long enough."""
        now = time.monotonic()
        for managed in list(self.instances.values()):
            self.notice_exit(managed)
            action = idle.decide(
                managed.state,
                now - managed.last_active,
                self.settings.pause_after,
                self.settings.hibernate_after,
            )
            try:
                if action == "pause":
                    await self.pause(managed, if_idle=True)
                elif action == "hibernate":
                    await self.hibernate(managed, if_idle=True)
            except (PostgresError, freezer.FreezerError, OSError) as exc:
                managed.touch()
                log.warning(
                    "idle policy failed", extra={"fields": {"instance": managed.name, "error": str(exc)}}
                )

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.idle_interval)
            await self.apply_idle_policy()

    # --- databases ------------------------------------------------------------------------------

    def dsn(self, database_id: str, password: str, role: str | None = None) -> str:
        """A DSN through the wake-on-connect proxy, with the tenant's own role (or `role`)."""
        role, db = role or registry.role_name(database_id), registry.database_name(database_id)
        host = self.settings.public_host
        return f"postgresql://{role}:{quote(password, safe='')}@{host}:{self.proxy_port}/{db}"

    async def provision(self, database_id: str, placement: str) -> dict[str, Any]:
        registry.checked_id(database_id)
        if placement not in registry.PLACEMENTS:
            raise FleetError(f"placement is 'shared' or 'dedicated', not {placement!r}")
        if database_id in self.databases or database_id in self._provisioning:
            raise FleetError(f"database {database_id!r} exists already on this host", 409)
        self._provisioning.add(database_id)
        try:
            if placement == "shared":
                managed = self.instances[SHARED_INSTANCE]
                password, reader_password = await self._provision_shared(database_id, managed)
            else:
                managed, password, reader_password = await self._provision_dedicated(database_id)
            record = self.registry.add(database_id, placement, managed.name)
            self.databases[database_id] = record
        finally:
            self._provisioning.discard(database_id)
        self.refill_spares(shared=placement == "shared")
        return {
            "host": self.settings.host_id,
            "instance": managed.name,
            "placement": placement,
            "dsn": self.dsn(database_id, password),
            "readonly_dsn": self.dsn(database_id, reader_password, registry.reader_role_name(database_id)),
        }

    async def read_only_role(self, database_id: str) -> dict[str, str]:
        """(Re)make the database's read-only role with a new password and bring its grants up to date
        (for databases made before read-only roles, and to catch up objects made outside the default
        privileges); returns its DSN. Idempotent, but every call changes the password."""
        record = self.databases.get(database_id)
        if record is None:
            raise FleetError(f"there is no database {database_id!r} on this host", 404)
        managed = self.instances[record.instance]
        password = secrets.token_urlsafe(24)
        async with self.awake(managed):
            admin = await pinned.connect(managed.instance.dsn(), server_settings=DURABLE_SESSION)
            try:
                await privileges.ensure_reader(admin, record.reader, password)
                await admin.execute(
                    f"GRANT CONNECT ON DATABASE {quoted(record.database)} TO {quoted(record.reader)};"
                    f"REVOKE TEMPORARY ON DATABASE {quoted(record.database)} FROM {quoted(record.reader)}"
                )
            finally:
                await admin.close()
            inside = await pinned.connect(
                managed.instance.dsn(record.database), server_settings=DURABLE_SESSION
            )
            try:
                await privileges.prepare_database(inside, record.role, record.reader)
            finally:
                await inside.close()
        return {"dsn": self.dsn(database_id, password, record.reader)}

    async def _provision_shared(self, database_id: str, managed: Managed) -> tuple[str, str]:
        async with self.awake(managed):
            spare = self.shared_spares.pop(0) if self.shared_spares else None
            try:
                return await self.shared.create_database(database_id, spare)
            except BaseException:
                if spare is not None:  # the rename rolled back with the rest: still a spare
                    self.shared_spares = [spare, *(self.shared_spares or [])]
                raise

    async def _provision_dedicated(self, database_id: str) -> tuple[Managed, str, str]:
        assert self.template is not None, "start() prepares the template"
        name = registry.dedicated_instance_name(database_id)
        instance = PostgresInstance(self.instances_dir / name, self.user)
        if instance.root.exists():
            _remove_instance(instance)  # a leftover of a crash while provisioning
        instance.root.mkdir(mode=0o700)
        self.user.own(instance.root)
        managed = Managed(name, "dedicated", instance, "hibernated")
        self.instances[name] = managed
        try:
            assert self.dedicated_spares is not None
            if not self.dedicated_spares.take(instance.data_dir):
                await template.clone_async(self.template, instance.data_dir, self.copy_mode)
            taken = {m.instance.meta.port for m in self.instances.values() if m is not managed}
            instance.save_meta(
                InstanceMeta(
                    name=name,
                    port=_new_port(taken),
                    superuser="postgres",
                    superuser_password=self.template.superuser_password,
                    settings=dict(self.template.instance.meta.settings),
                    admin_database=template.ADMIN_DATABASE,
                    group=self.freezer.group_for(self.scope, name),
                    hardened=self.template.instance.meta.hardened,
                )
            )
            superuser_password = secrets.token_urlsafe(24)
            password, reader_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            owner, reader = registry.role_name(database_id), registry.reader_role_name(database_id)
            async with self.awake(managed):
                conn = await pinned.connect(instance.dsn(), server_settings=DURABLE_SESSION)
                try:
                    # Passwords cannot be bind parameters; token_urlsafe has no quote characters.
                    await conn.execute(
                        f"ALTER DATABASE {template.TEMPLATE_DATABASE} "
                        f"RENAME TO {registry.database_name(database_id)};"
                        f"ALTER ROLE {template.TEMPLATE_ROLE} RENAME TO {owner};"
                        f"ALTER ROLE {owner} LOGIN PASSWORD '{password}';"
                        f"ALTER ROLE {template.TEMPLATE_READER} RENAME TO {reader};"
                        f"ALTER ROLE {reader} LOGIN PASSWORD '{reader_password}';"
                        f"ALTER ROLE {instance.meta.superuser} PASSWORD '{superuser_password}'"
                    )
                finally:
                    await conn.close()
                meta = instance.meta
                meta.superuser_password = superuser_password
                instance.save_meta(meta)
        except BaseException:
            self.instances.pop(name, None)
            await asyncio.to_thread(_remove_instance, instance)
            raise
        return managed, password, reader_password

    async def destroy(self, database_id: str) -> None:
        registry.checked_id(database_id)
        record = self.databases.pop(database_id, None)
        if record is None:
            raise FleetError(f"there is no database {database_id!r} on this host", 404)
        self.registry.remove(database_id)
        if record.placement == "shared":
            async with self.awake(self.instances[SHARED_INSTANCE]):
                await self.shared.drop_database(database_id)
            return
        managed = self.instances.pop(record.instance)
        async with managed.lock:
            managed.state = "stopping"
            await asyncio.to_thread(_remove_instance, managed.instance)
            managed.state = "destroyed"

    def route(self, database: str, user: str) -> Managed:
        """The instance a proxied connection to `database` as `user` goes to, or why it may not."""
        database_id = database.removeprefix("t_")
        record = self.databases.get(database_id) if database.startswith("t_") else None
        if record is None:
            raise RouteError(f'database "{database}" does not exist', "3D000")
        if user not in (record.role, record.reader):
            # What Postgres itself answers a role without CONNECT on the database.
            raise RouteError(
                f'permission denied for database "{database}"',
                "42501",
                f'Only the database\'s own roles connect to it; "{user}" is not one of them.',
            )
        managed = self.instances.get(record.instance)
        if managed is None or managed.state == "destroyed":
            raise RouteError(f'database "{database}" has no instance on this host', "3D000")
        return managed

    def managed_for(self, database_id: str) -> Managed:
        record = self.databases.get(database_id)
        if record is None:
            raise FleetError(f"there is no database {database_id!r} on this host", 404)
        return self.instances[record.instance]

    def instance_for(self, database_id: str) -> PostgresInstance:
        """The Postgres instance holding a database (for agent features that work inside it)."""
        return self.managed_for(database_id).instance

    # --- figures --------------------------------------------------------------------------------

    def figures(self, managed: Managed, disk: bool = False) -> dict[str, Any]:
        pids = freezer.process_tree(managed.pid) if managed.pid is not None else []
        used = resources.usage(pids)
        now = time.monotonic()
        found: dict[str, Any] = {
            "name": managed.name,
            "placement": managed.placement,
            "state": managed.state,
            # Paused and every task of it stopped (freezing completes asynchronously).
            "frozen": managed.state == "paused"
            and managed.pid is not None
            and freezer.settled(managed.group, managed.pid),
            "pid": managed.pid,
            "port": managed.instance.meta.port,
            "databases": sorted(r.id for r in self.databases.values() if r.instance == managed.name),
            "connections": len(managed.upstream_pids),
            "idle_seconds": round(now - managed.last_active, 3),
            "processes": used.processes,
            "memory_rss_kb": used.rss_kb,
            "memory_pss_kb": used.pss_kb,
            "cpu_seconds": used.cpu_seconds,
            "pauses": managed.pauses,
            "resumes": managed.resumes,
            "starts": managed.starts,
            "hibernations": managed.hibernations,
            "last_start_ms": managed.last_start_ms,
        }
        if disk:
            found["disk_bytes"] = resources.disk_bytes(managed.instance.root)
        return found

    def summary(self) -> dict[str, Any]:
        states: dict[str, int] = {}
        for managed in self.instances.values():
            states[managed.state] = states.get(managed.state, 0) + 1
        return {
            "host": self.settings.host_id,
            "instances": len(self.instances),
            "databases": len(self.databases),
            "states": states,
            "freezer": self.freezer.kind,
            "copy": self.copy_mode,
            "proxy": f"{self.settings.public_host}:{self.proxy_port}",
            "spares": {
                "dedicated": len(self.dedicated_spares.ready()) if self.dedicated_spares else 0,
                "shared": len(self.shared_spares or []),
            },
            "memory_available_kb": resources.memory_available_kb(),
        }


async def _poll(ready: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise PostgresError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.001)


def _port_free(port: int) -> bool:
    """Whether Postgres could listen on `port`. Like Postgres, with SO_REUSEADDR: connections the
    instance had before it slept linger in TIME_WAIT, and they must not move it to another port
    (clients that hold its address, such as change capture's reader, would lose it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _new_port(taken: set[int]) -> int:
    while True:
        port = free_port()
        if port not in taken:
            return port


def _remove_instance(instance: PostgresInstance) -> None:
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
