"""Moving a database to another host: this host's half (the origin's `control/moves.py` runs the move).

On the host it leaves:
1. `fence`: the proxy admits none of the database's roles any more (routing.py answers them "is
   moving"); sessions get up to `grace` seconds to finish what they run, then are ended. Returns a
   WAL position written after the last change of the database, so that change capture can tell
   when it has delivered everything before it.
2. `export`: a package of the database, spooled to disk: a shared database is dumped (`pg_dump`,
   custom format, without the platform's change-capture objects) with its roles' password
   verifiers and settings; a dedicated instance is stopped (a clean shutdown) and its directory
   archived, roles, passwords and replication slots inside.
3. `release` (once the control plane points at the new host): the database is dropped, and a
   forwarding note is kept so that a client with the old DSN is told where it went.
   `unfence` instead undoes a move that did not happen.

On the host it arrives at, `import_` makes the database from the package, fenced until the origin
says it may serve (`unfence`): nobody may write to it before its new capture slot exists.

Tenants are adversaries here too: the dump runs as the superuser with the pinned settings (pg_dump
sets its own empty search_path and runs no tenant code); the restore runs as the tenant's own role,
on the instance's Unix socket, so a CHECK constraint or a generated column that calls the tenant's
functions while rows are loaded runs them with the tenant's rights. What the platform itself made
inside the database (owned by the superuser: capture's schema, event trigger and publication, the
privileges on large-object functions) is left out of the restore and made again on the new host.

The package on disk is movepackage.py; the work inside Postgres (sessions, pg_dump/pg_restore,
settings) movepostgres.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bwservice import pinned

from . import capture, registry
from .inventory import SHARED_INSTANCE, FleetError, Inventory, Managed, MoveError
from .lifecycle import Lifecycle, remove_instance
from .movepackage import (
    FORMAT,
    archive_instance,
    package_digest,
    receive_package,
    spool_path,
    unpack_instance,
)
from .movepostgres import copy_settings, end_sessions, let_finish, restore_as_owner, run_client, socket_args
from .ports import new_port
from .postgres import PG_BIN, InstanceMeta, PostgresInstance
from .provisioning import DURABLE_SESSION, Provisioner
from .quoting import ident, literal

log = logging.getLogger("breakwater.hosts")


def _tenant_roles(database_id: str) -> list[str]:
    return [registry.role_name(database_id), registry.reader_role_name(database_id)]


class Relocation:
    def __init__(self, inventory: Inventory, lifecycle: Lifecycle, provisioner: Provisioner) -> None:
        self.inventory = inventory
        self.lifecycle = lifecycle
        self.provisioner = provisioner

    def _record(self, database_id: str) -> registry.DatabaseRecord:
        record = self.inventory.databases.get(registry.checked_id(database_id))
        if record is None:
            raise FleetError(f"there is no database {database_id!r} on this host", 404)
        return record

    def _set_fenced(self, record: registry.DatabaseRecord, fenced: bool) -> registry.DatabaseRecord:
        changed = registry.DatabaseRecord(
            record.id, record.placement, record.instance, record.created_at, fenced
        )
        self.inventory.registry.save(changed)
        self.inventory.databases[record.id] = changed
        return changed

    # --- the host it leaves ---------------------------------------------------------------------

    async def fence(self, database_id: str, grace: float) -> dict[str, Any]:
        """Refuse new sessions of the database's roles, let running ones finish for up to `grace`
        seconds, end the rest; returns a WAL position after the database's last change."""
        record = self._set_fenced(self._record(database_id), True)
        managed = self.inventory.instances[record.instance]
        roles = _tenant_roles(database_id)
        async with self.lifecycle.awake(managed):
            admin = await pinned.connect(managed.instance.dsn(), server_settings=DURABLE_SESSION)
            try:
                await let_finish(admin, record.database, roles, grace)
                ended = await end_sessions(admin, record.database, roles)
            finally:
                await admin.close()
            inside = await pinned.connect(
                managed.instance.dsn(record.database), server_settings=DURABLE_SESSION
            )
            try:
                # A WAL record of our own after the last change: capture's walsender decodes past it
                # (and the reader confirms past it) only once everything before it was delivered.
                lsn = await inside.fetchval(
                    "SELECT pg_catalog.pg_logical_emit_message(false, 'breakwater.fence', $1)"
                    "::pg_catalog.text",
                    database_id,
                )
            finally:
                await inside.close()
        log.info("database fenced", extra={"fields": {"database": database_id, "ended_sessions": ended}})
        return {"placement": record.placement, "lsn": str(lsn), "ended_sessions": ended}

    async def unfence(self, database_id: str) -> dict[str, Any]:
        """Admit the database's roles again (a move was undone, or the database arrived)."""
        record = self._set_fenced(self._record(database_id), False)
        for direction in ("out", "in"):
            spool_path(self.inventory, database_id, direction).unlink(missing_ok=True)
        return {"placement": record.placement, "instance": record.instance}

    async def export(self, database_id: str) -> dict[str, Any]:
        """Spool the fenced database's package to disk; returns its manifest (bytes and digest
        included). The package is served by `package_chunks` and removed by release/unfence."""
        record = self._record(database_id)
        if not record.fenced:
            raise MoveError(f"database {database_id!r} is not fenced: fence it before exporting it")
        out = spool_path(self.inventory, database_id, "out")
        managed = self.inventory.instances[record.instance]
        if record.placement == "shared":
            manifest = await self._export_shared(record, managed, out)
        else:
            manifest = await self._export_dedicated(record, managed, out)
        digest, size = await asyncio.to_thread(package_digest, out)
        return {
            **manifest,
            "format": FORMAT,
            "id": record.id,
            "placement": record.placement,
            "created_at": record.created_at,
            "bytes": size,
            "sha256": digest,
        }

    async def _export_shared(
        self, record: registry.DatabaseRecord, managed: Managed, out: Path
    ) -> dict[str, Any]:
        instance = managed.instance
        async with self.lifecycle.awake(managed):
            admin = await pinned.connect(instance.dsn())
            try:
                verifiers = {
                    str(r["rolname"]): str(r["rolpassword"])
                    for r in await admin.fetch(
                        "SELECT rolname, rolpassword FROM pg_catalog.pg_authid "
                        "WHERE rolname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.name[]) "
                        "AND rolpassword IS NOT NULL",
                        _tenant_roles(record.id),
                    )
                }
                settings = [
                    {"database": bool(r["in_database"]), "role": r["role"], "config": list(r["setconfig"])}
                    for r in await admin.fetch(
                        "SELECT s.setdatabase OPERATOR(pg_catalog.<>) 0 AS in_database, "
                        "CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0 THEN NULL ELSE a.rolname END AS role, "
                        "s.setconfig FROM pg_catalog.pg_db_role_setting s "
                        "LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) s.setrole "
                        "LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.setdatabase "
                        "WHERE (d.datname OPERATOR(pg_catalog.=) $1 AND (s.setrole OPERATOR(pg_catalog.=) 0 "
                        "OR a.rolname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]))) "
                        "OR (s.setdatabase OPERATOR(pg_catalog.=) 0 "
                        "AND a.rolname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]))",
                        record.database,
                        _tenant_roles(record.id),
                    )
                ]
            finally:
                await admin.close()
            await run_client(
                [
                    str(PG_BIN / "pg_dump"),
                    "--format=custom",
                    "--no-publications",
                    "--no-subscriptions",
                    f"--exclude-schema={capture.GUARD_SCHEMA}",
                    f"--file={out}",
                    *socket_args(instance, instance.meta.superuser, record.database),
                ],
                {"PGPASSWORD": instance.meta.superuser_password, "PGOPTIONS": pinned.pgoptions()},
            )
        return {"verifiers": verifiers, "settings": settings}

    async def _export_dedicated(
        self, record: registry.DatabaseRecord, managed: Managed, out: Path
    ) -> dict[str, Any]:
        # A clean shutdown: the copy is a consistent data directory with its slots and WAL.
        await self.lifecycle.hibernate(managed)
        async with managed.lock:
            if managed.instance.pid() is not None:
                raise MoveError(f"{managed.name} started again while it was being moved")
            await asyncio.to_thread(archive_instance, managed.instance.root, out)
        meta = managed.instance.meta
        return {
            "instance": {
                "superuser": meta.superuser,
                "superuser_password": meta.superuser_password,
                "settings": meta.settings,
                "admin_database": meta.admin_database,
                "hardened": meta.hardened,
            }
        }

    async def release(self, database_id: str, host: str, proxy: str) -> dict[str, Any]:
        """The database lives on `host` now: drop it here and remember where it went."""
        record = self._record(database_id)
        if not record.fenced:
            raise MoveError(f"database {database_id!r} is serving here: it was not moved away")
        await self._destroy(database_id)
        self.inventory.moved[record.id] = self.inventory.forwardings.add(record.id, host, proxy)
        spool_path(self.inventory, database_id, "out").unlink(missing_ok=True)
        log.info("database moved away", extra={"fields": {"database": database_id, "to": host}})
        return {"released": database_id, "host": host}

    async def _destroy(self, database_id: str) -> None:
        """Drop the database here (its slots first: they keep DROP DATABASE from succeeding; a
        dedicated instance's go with its files)."""
        record = self._record(database_id)
        if record.placement == "shared":
            async with self.lifecycle.awake(self.inventory.instances[record.instance]) as instance:
                await capture.drop_slots(instance, database_id)
        await self.provisioner.destroy(database_id)

    # --- the host it arrives at -----------------------------------------------------------------

    async def import_(self, manifest: dict[str, Any], chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Make the database from a package (its manifest, then its bytes), fenced."""
        if manifest.get("format") != FORMAT:
            raise MoveError(f"unknown package format {manifest.get('format')!r}")
        database_id = registry.checked_id(str(manifest.get("id", "")))
        placement = str(manifest.get("placement", ""))
        if placement not in registry.PLACEMENTS:
            raise MoveError(f"placement is 'shared' or 'dedicated', not {placement!r}")
        if placement == "dedicated" and not {"superuser", "superuser_password", "settings"} <= set(
            dict(manifest.get("instance") or {})
        ):
            raise MoveError("the manifest of a dedicated database names no instance superuser and settings")
        found = self.inventory.databases.get(database_id)
        if found is not None and not found.fenced:
            raise MoveError(f"database {database_id!r} exists already on this host and serves", 409)
        spooled = spool_path(self.inventory, database_id, "in")
        try:
            await receive_package(
                chunks, spooled, int(manifest.get("bytes", -1)), str(manifest.get("sha256", ""))
            )
            if found is not None:  # an earlier attempt that did not finish
                await self._destroy(database_id)
            if placement == "shared":
                instance = await self._import_shared(database_id, manifest, spooled)
            else:
                instance = await self._import_dedicated(database_id, manifest, spooled)
            record = self.inventory.registry.add(
                database_id, placement, instance, str(manifest.get("created_at") or ""), fenced=True
            )
            self.inventory.databases[database_id] = record
        finally:
            spooled.unlink(missing_ok=True)
        if self.inventory.moved.pop(database_id, None) is not None:
            self.inventory.forwardings.remove(database_id)  # it came back
        settings = self.inventory.settings
        return {
            "host": settings.host_id,
            "instance": record.instance,
            "placement": placement,
            "proxy": f"{settings.public_host}:{self.inventory.proxy_port}",
        }

    async def _import_shared(self, database_id: str, manifest: dict[str, Any], package: Path) -> str:
        shared = self.inventory.shared
        managed = self.inventory.instances[SHARED_INSTANCE]
        instance = shared.instance
        owner, reader = registry.role_name(database_id), registry.reader_role_name(database_id)
        verifiers: dict[str, str] = dict(manifest.get("verifiers") or {})
        restore_password = secrets.token_urlsafe(24)  # the owner's until the restore is done
        async with self.lifecycle.awake(managed):
            admin = await shared.admin()
            try:
                await shared.drop_leftovers(admin, database_id)
                await shared.new_database(
                    admin, registry.database_name(database_id), owner, reader, restore_password, None
                )
            finally:
                await admin.close()
            await restore_as_owner(instance, database_id, package, restore_password)
            admin = await shared.admin()
            try:
                async with admin.transaction():
                    for role in (owner, reader):
                        if role in verifiers:
                            # A verifier given as the password is stored as it is: the tenant's
                            # passwords stay what they were, and nobody here learns them.
                            await admin.execute(
                                f"ALTER ROLE {ident(role)} LOGIN PASSWORD {literal(verifiers[role])}"
                            )
                        else:
                            await admin.execute(f"ALTER ROLE {ident(role)} PASSWORD NULL")
                    await copy_settings(
                        admin, registry.database_name(database_id), manifest.get("settings") or []
                    )
            finally:
                await admin.close()
        return SHARED_INSTANCE

    async def _import_dedicated(self, database_id: str, manifest: dict[str, Any], package: Path) -> str:
        inventory = self.inventory
        name = registry.dedicated_instance_name(database_id)
        instance = PostgresInstance(inventory.instances_dir / name, inventory.user)
        if instance.root.exists():
            await asyncio.to_thread(remove_instance, instance)
        partial = instance.root.with_name(name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            await asyncio.to_thread(unpack_instance, package, partial, inventory)
            partial.rename(instance.root)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        given: dict[str, Any] = dict(manifest.get("instance") or {})
        managed = Managed(name, "dedicated", instance, "hibernated")
        inventory.instances[name] = managed
        try:
            instance.save_meta(
                InstanceMeta(
                    name=name,
                    port=new_port(inventory.ports_taken(besides=managed)),
                    superuser=str(given["superuser"]),
                    superuser_password=str(given["superuser_password"]),
                    settings={str(k): str(v) for k, v in dict(given["settings"]).items()},
                    admin_database=str(given.get("admin_database") or "template1"),
                    group=inventory.group_for(name),
                    hardened=int(given.get("hardened") or 0),
                )
            )
        except BaseException:
            inventory.instances.pop(name, None)
            await asyncio.to_thread(remove_instance, instance)
            raise
        return name
