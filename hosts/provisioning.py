"""Making and removing tenant databases: provisioning on either placement (from a spare when one
waits), the read-only role, destroying; and the DSNs handed out, which go through the proxy.

A database is recorded (`registry`) only once it is complete, and its record is removed first when it
is destroyed: boot (boot.py) removes whatever a crash left in between.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import quote

from bwservice import pinned

from . import privileges, registry, template
from .inventory import SHARED_INSTANCE, FleetError, Inventory, Managed
from .lifecycle import Lifecycle, remove_instance
from .ports import new_port
from .postgres import InstanceMeta, PostgresInstance
from .quoting import ident, literal
from .spare_stock import SpareStock

# The agent's own changes (names, passwords) must outlive a crash even on instances configured with
# synchronous_commit = off.
DURABLE_SESSION = {"synchronous_commit": "on"}


class Provisioner:
    def __init__(self, inventory: Inventory, lifecycle: Lifecycle, spares: SpareStock) -> None:
        self.inventory = inventory
        self.lifecycle = lifecycle
        self.spares = spares
        self._provisioning: set[str] = set()

    def dsn(self, database_id: str, password: str, role: str | None = None) -> str:
        """A DSN through the wake-on-connect proxy, with the tenant's own role (or `role`)."""
        role, db = role or registry.role_name(database_id), registry.database_name(database_id)
        host, port = self.inventory.settings.public_host, self.inventory.proxy_port
        return f"postgresql://{role}:{quote(password, safe='')}@{host}:{port}/{db}"

    async def provision(self, database_id: str, placement: str) -> dict[str, Any]:
        registry.checked_id(database_id)
        if placement not in registry.PLACEMENTS:
            raise FleetError(f"placement is 'shared' or 'dedicated', not {placement!r}")
        inventory = self.inventory
        if database_id in inventory.databases or database_id in self._provisioning:
            raise FleetError(f"database {database_id!r} exists already on this host", 409)
        self._provisioning.add(database_id)
        try:
            if placement == "shared":
                managed = inventory.instances[SHARED_INSTANCE]
                password, reader_password = await self._provision_shared(database_id, managed)
            else:
                managed, password, reader_password = await self._provision_dedicated(database_id)
            record = inventory.registry.add(database_id, placement, managed.name)
            inventory.databases[database_id] = record
        finally:
            self._provisioning.discard(database_id)
        self.spares.refill(shared=placement == "shared")
        return {
            "host": inventory.settings.host_id,
            "instance": managed.name,
            "placement": placement,
            "dsn": self.dsn(database_id, password),
            "readonly_dsn": self.dsn(database_id, reader_password, registry.reader_role_name(database_id)),
        }

    async def read_only_role(self, database_id: str) -> dict[str, str]:
        """(Re)make the database's read-only role with a new password and bring its grants up to date
        (for databases made before read-only roles, and to catch up objects made outside the default
        privileges); returns its DSN. Idempotent, but every call changes the password."""
        record = self.inventory.databases.get(database_id)
        if record is None:
            raise FleetError(f"there is no database {database_id!r} on this host", 404)
        managed = self.inventory.instances[record.instance]
        password = secrets.token_urlsafe(24)
        async with self.lifecycle.awake(managed):
            admin = await pinned.connect(managed.instance.dsn(), server_settings=DURABLE_SESSION)
            try:
                await privileges.ensure_reader(admin, record.reader, password)
                await admin.execute(
                    f"GRANT CONNECT ON DATABASE {ident(record.database)} TO {ident(record.reader)};"
                    f"REVOKE TEMPORARY ON DATABASE {ident(record.database)} FROM {ident(record.reader)}"
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
        async with self.lifecycle.awake(managed):
            spare = self.spares.take_shared()
            try:
                return await self.inventory.shared.create_database(database_id, spare)
            except BaseException:
                if spare is not None:
                    self.spares.put_back_shared(spare)
                raise

    async def _provision_dedicated(self, database_id: str) -> tuple[Managed, str, str]:
        inventory = self.inventory
        made_from = inventory.template
        assert made_from is not None, "start-up prepares the template"
        name = registry.dedicated_instance_name(database_id)
        instance = PostgresInstance(inventory.instances_dir / name, inventory.user)
        if instance.root.exists():
            remove_instance(instance)  # a leftover of a crash while provisioning
        instance.root.mkdir(mode=0o700)
        inventory.user.own(instance.root)
        managed = Managed(name, "dedicated", instance, "hibernated")
        inventory.instances[name] = managed
        try:
            if not self.spares.take_dedicated(instance.data_dir):
                await template.clone_async(made_from, instance.data_dir, inventory.copy_mode)
            instance.save_meta(
                InstanceMeta(
                    name=name,
                    port=new_port(inventory.ports_taken(besides=managed)),
                    superuser="postgres",
                    superuser_password=made_from.superuser_password,
                    settings=dict(made_from.instance.meta.settings),
                    admin_database=template.ADMIN_DATABASE,
                    group=inventory.group_for(name),
                    hardened=made_from.instance.meta.hardened,
                )
            )
            superuser_password = secrets.token_urlsafe(24)
            password, reader_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            owner, reader = registry.role_name(database_id), registry.reader_role_name(database_id)
            async with self.lifecycle.awake(managed):
                conn = await pinned.connect(instance.dsn(), server_settings=DURABLE_SESSION)
                try:
                    # Passwords cannot be bind parameters (quoting.literal).
                    await conn.execute(
                        f"ALTER DATABASE {ident(template.TEMPLATE_DATABASE)} "
                        f"RENAME TO {ident(registry.database_name(database_id))};"
                        f"ALTER ROLE {ident(template.TEMPLATE_ROLE)} RENAME TO {ident(owner)};"
                        f"ALTER ROLE {ident(owner)} LOGIN PASSWORD {literal(password)};"
                        f"ALTER ROLE {ident(template.TEMPLATE_READER)} RENAME TO {ident(reader)};"
                        f"ALTER ROLE {ident(reader)} LOGIN PASSWORD {literal(reader_password)};"
                        f"ALTER ROLE {ident(instance.meta.superuser)} PASSWORD {literal(superuser_password)}"
                    )
                finally:
                    await conn.close()
                meta = instance.meta
                meta.superuser_password = superuser_password
                instance.save_meta(meta)
        except BaseException:
            inventory.instances.pop(name, None)
            await asyncio.to_thread(remove_instance, instance)
            raise
        return managed, password, reader_password

    async def destroy(self, database_id: str) -> None:
        registry.checked_id(database_id)
        inventory = self.inventory
        record = inventory.databases.pop(database_id, None)
        if record is None:
            raise FleetError(f"there is no database {database_id!r} on this host", 404)
        inventory.registry.remove(database_id)
        if record.placement == "shared":
            async with self.lifecycle.awake(inventory.instances[SHARED_INSTANCE]):
                await inventory.shared.drop_database(database_id)
            return
        managed = inventory.instances.pop(record.instance)
        async with managed.lock:
            managed.state = "stopping"
            await asyncio.to_thread(remove_instance, managed.instance)
            managed.state = "destroyed"
