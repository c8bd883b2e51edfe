"""Start-up: prepare the template, then adopt whatever is on disk and running. Instances outlive the
agent, so a new agent (after a restart, an upgrade or a crash) takes them over as they are, running,
paused or hibernated, and removes what a crash left half made.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path

from . import freezer, hardening, template
from .inventory import SHARED_INSTANCE, FleetError, Inventory, Managed
from .lifecycle import Lifecycle, remove_instance
from .postgres import PostgresInstance
from .shared import SHARED_SETTINGS
from .spare_stock import SpareStock

log = logging.getLogger("breakwater.hosts")


async def boot(inventory: Inventory, lifecycle: Lifecycle, spares: SpareStock) -> None:
    """Prepare the template, then adopt whatever is on disk and running (nothing is lost)."""
    inventory.instances_dir.mkdir(parents=True, exist_ok=True)
    settings = inventory.settings
    made_from = inventory.template = await template.prepare(inventory.root, inventory.user, settings.durable)
    detected = template.copy_mode(made_from.instance.root, inventory.instances_dir)
    inventory.copy_mode = detected if settings.copy == "auto" else settings.copy
    if inventory.copy_mode == "reflink" and detected != "reflink":
        raise FleetError(f"reflink copies are not possible under {inventory.instances_dir}")
    spares.prepare(made_from)
    await reconcile(inventory, lifecycle)
    for managed in list(inventory.instances.values()):
        if managed.state != "hibernated" and hardening.needed(managed.instance):
            async with lifecycle.awake(managed):
                await lifecycle.harden(managed)
    spares.refill(shared=inventory.instances[SHARED_INSTANCE].state == "running")


async def reconcile(inventory: Inventory, lifecycle: Lifecycle) -> None:
    """The inventory from what is on disk: the shared cluster (made if missing), every dedicated
    instance with its record, and nothing else (leftovers are removed, records without an instance
    forgotten)."""
    shared = inventory.shared.instance
    if not shared.exists():
        shutil.rmtree(shared.root, ignore_errors=True)
        shared.create(durable=inventory.settings.durable, settings=SHARED_SETTINGS)
    changed = hardening.update_files(shared, SHARED_SETTINGS)
    if changed and shared.pid() is not None:
        log.warning(
            "shared cluster settings updated; those a reload does not apply, apply when it next starts",
            extra={"fields": {"settings": changed}},
        )
    inventory.instances[SHARED_INSTANCE] = _adopt(lifecycle, shared, "shared")
    if inventory.registry.new and shared.data_dir.joinpath("base").exists():
        await _import_shared_databases(inventory, lifecycle)
    records = inventory.registry.load()
    for root in sorted(p for p in inventory.instances_dir.iterdir() if p.is_dir()):
        if root.name == SHARED_INSTANCE:
            continue
        database_id = root.name.removeprefix("d-")
        record = records.get(database_id)
        instance = PostgresInstance(root, inventory.user)
        if record is None or record.instance != root.name or not instance.exists():
            # Provisioning never finished (the record comes last) or destroying never did.
            log.warning("removing a leftover instance", extra={"fields": {"instance": root.name}})
            remove_instance(instance)
            continue
        hardening.update_files(instance, template.DEDICATED_SETTINGS)
        inventory.instances[root.name] = _adopt(lifecycle, instance, "dedicated")
    _remove_stale_groups(inventory)
    for record in records.values():
        if record.instance not in inventory.instances:
            log.warning("forgetting a database without its instance", extra={"fields": {"id": record.id}})
            inventory.registry.remove(record.id)
            continue
        inventory.databases[record.id] = record


async def _import_shared_databases(inventory: Inventory, lifecycle: Lifecycle) -> None:
    """Record the databases an agent from before the registry made in the shared cluster."""
    async with lifecycle.awake(inventory.instances[SHARED_INSTANCE]):
        for database_id in await inventory.shared.list_databases():
            with contextlib.suppress(ValueError):
                inventory.registry.add(database_id, "shared", SHARED_INSTANCE)


def _remove_stale_groups(inventory: Inventory) -> None:
    """Empty freezer groups of instances that are gone (destroyed while no agent ran)."""
    probe = inventory.group_for("-")
    if not probe:
        return
    scope = Path(probe).parent
    if scope.is_dir():
        for group in list(scope.iterdir()):
            if group.is_dir() and group.name not in inventory.instances:
                freezer.remove_group(str(group))


def _adopt(lifecycle: Lifecycle, instance: PostgresInstance, placement: str) -> Managed:
    pid = instance.pid()
    managed = Managed(instance.root.name, placement, instance, "hibernated", pid)
    if pid is None:
        return managed
    if freezer.thawed(instance.meta.group, pid):
        managed.state = "running"
        lifecycle.place(managed, pid)
    else:
        managed.state = "paused"
    return managed
