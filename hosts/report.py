"""What the agent reports: each instance's state, counters and resources used, and the host's summary."""

from __future__ import annotations

import time
from typing import Any

from . import freezer, resources
from .inventory import Inventory, Managed


def figures(inventory: Inventory, managed: Managed, disk: bool = False) -> dict[str, Any]:
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
        "databases": sorted(r.id for r in inventory.databases.values() if r.instance == managed.name),
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


def summary(inventory: Inventory, spares: dict[str, int]) -> dict[str, Any]:
    """The host as a whole; `spares` counts the spares waiting, by kind."""
    states: dict[str, int] = {}
    for managed in inventory.instances.values():
        states[managed.state] = states.get(managed.state, 0) + 1
    return {
        "host": inventory.settings.host_id,
        "instances": len(inventory.instances),
        "databases": len(inventory.databases),
        "states": states,
        "freezer": inventory.freezer.kind,
        "copy": inventory.copy_mode,
        "proxy": f"{inventory.settings.public_host}:{inventory.proxy_port}",
        "spares": spares,
        "memory_available_kb": resources.memory_available_kb(),
    }
