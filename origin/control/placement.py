"""Where a new database goes: the active, reachable host with the most room, by what the hosts report.

A host is a candidate when it is `active` (not cordoned, draining or drained), reported within
`stale_seconds`, has at least `min_free_disk_bytes` and `min_free_memory_kb` free, and holds fewer
databases than its cap (`max_databases` in its report; 0: none). Among candidates the one with the
most headroom wins: the smallest of its free fractions (memory, disk, and databases under its cap).
Headroom is compared in steps of 5 % (two agents on one machine read the same memory a moment apart,
and that noise must not decide), then by fewer databases of the placement asked for (dedicated ones
cost an instance each), then by name. An operator may name the host instead (`db create --host`):
then only its state and reachability are checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bwcontract.codes import Code

from ..errors import BreakwaterError, host_unavailable
from .hostrecords import HostRecord

STEP = 0.05


@dataclass(frozen=True)
class PlacementRules:
    stale_seconds: float = 15.0
    min_free_disk_bytes: int = 256 * 1024 * 1024
    min_free_memory_kb: int = 128 * 1024


class NoHost(BreakwaterError):
    code = Code.NO_HOST


def headroom(host: HostRecord) -> float:
    """The smallest free fraction of what the host reported (1.0: empty; 0: full)."""
    cap = host.capacity
    fractions = []
    if cap.get("memory_total_kb"):
        fractions.append(cap.get("memory_available_kb", 0) / cap["memory_total_kb"])
    if cap.get("disk_total_bytes"):
        fractions.append(cap.get("disk_free_bytes", 0) / cap["disk_total_bytes"])
    if cap.get("max_databases"):
        fractions.append(1 - host.databases / cap["max_databases"])
    return max(0.0, min(fractions, default=1.0))


def why_not(host: HostRecord, now: dt.datetime, rules: PlacementRules) -> str | None:
    """Why `host` takes no new database now, or None when it may."""
    if host.state != "active":
        return host.state
    if host.last_seen is None:
        return "never reported"
    if not host.reachable(now, rules.stale_seconds):
        return f"unreachable (last report {host.seen_seconds_ago(now):.0f}s ago)"
    cap = host.capacity
    if cap.get("max_databases") and host.databases >= cap["max_databases"]:
        return f"full ({host.databases} of {cap['max_databases']} databases)"
    if cap.get("disk_free_bytes", rules.min_free_disk_bytes) < rules.min_free_disk_bytes:
        return f"low on disk ({cap['disk_free_bytes'] // 2**20} MiB free)"
    if cap.get("memory_available_kb", rules.min_free_memory_kb) < rules.min_free_memory_kb:
        return f"low on memory ({cap['memory_available_kb'] // 1024} MiB available)"
    return None


def choose(
    hosts: Iterable[HostRecord],
    placement: str,
    now: dt.datetime,
    rules: PlacementRules,
    *,
    wanted: str | None = None,
    exclude: Mapping[str, str] | None = None,
) -> HostRecord:
    """The host for a new database of `placement` (or the operator's `wanted` one, checked);
    `exclude` leaves hosts out, each with the reason a refusal names."""
    hosts = list(hosts)
    if wanted is not None:
        found = next((h for h in hosts if h.id == wanted), None)
        if found is None:
            raise BreakwaterError(
                f"There is no host {wanted!r}.",
                code=Code.NOT_FOUND,
                hint="`breakwater host list` shows them.",
            )
        if found.state != "active":
            raise BreakwaterError(
                f"Host {wanted!r} is {found.state}: it takes no new databases.",
                code=Code.HOST_STATE,
                hint=f"`breakwater host uncordon {wanted}` makes it active again.",
            )
        if not found.reachable(now, rules.stale_seconds) or found.last_seen is None:
            raise host_unavailable(wanted, "it has not reported lately")
        return found
    excluded = exclude or {}
    refused: dict[str, str] = {}
    candidates = []
    for host in hosts:
        reason = excluded.get(host.id) or why_not(host, now, rules)
        if reason is None:
            candidates.append(host)
        else:
            refused[host.id] = reason
    if not candidates:
        listed = (
            ", ".join(f"{name}: {reason}" for name, reason in sorted(refused.items())) or "none registered"
        )
        raise NoHost(
            f"No host can take a new database ({listed}).",
            meta={"hosts": refused},
            hint="Start or uncordon a host agent, or raise a full host's cap "
            "(BREAKWATER_HOSTS_MAX_DATABASES).",
        )

    def rank(host: HostRecord) -> tuple[int, int, str]:
        load = host.dedicated if placement == "dedicated" else host.databases
        return (-int(headroom(host) / STEP), load, host.id)

    return min(candidates, key=rank)
