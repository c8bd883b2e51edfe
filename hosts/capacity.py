"""What the host reports to the control plane, which places new databases by it: memory, disk and
the instances and databases it holds, with the operator's cap (`BREAKWATER_HOSTS_MAX_DATABASES`).
Read from /proc and the file system: reporting wakes nothing."""

from __future__ import annotations

import shutil
from typing import Any

from . import resources
from .inventory import Inventory


def memory_total_kb() -> int:
    for line in open("/proc/meminfo").read().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    raise RuntimeError("no MemTotal in /proc/meminfo")


def capacity(inventory: Inventory) -> dict[str, Any]:
    disk = shutil.disk_usage(inventory.root)
    instances = list(inventory.instances.values())
    return {
        "memory_total_kb": memory_total_kb(),
        "memory_available_kb": resources.memory_available_kb(),
        "disk_total_bytes": disk.total,
        "disk_free_bytes": disk.free,
        "instances": len(instances),
        "instances_awake": sum(1 for m in instances if m.state in ("running", "paused", "starting")),
        "databases": len(inventory.databases),
        "dedicated": sum(1 for r in inventory.databases.values() if r.placement == "dedicated"),
        "max_databases": inventory.settings.max_databases,
    }
