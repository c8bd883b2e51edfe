"""What the console shows, gathered from where each figure lives; nothing here wakes a database.

- databases, workspaces, keys, limits, capture: the control plane;
- instance state and resources: the host agent (`GET /instances`);
- connections and waits: this origin's pool (`Tenants.figures`); recent query times: latency.py;
- change streams and their lag: the edge's event queue of the database (`GET /_bw/events/{id}/figures`).

A source that cannot answer leaves its part of a page saying why; the rest of the page still shows.
- workspaces, plans, usage and the estimated bill: metering's readers (usage.py).

Query insights add their own gatherer here and a section on the database page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .. import limits as limits_
from ..control.store import ApiKey, Database
from ..errors import BreakwaterError
from ..latency import Latency
from ..state import OriginState
from . import usage as usage_

_POOL_COUNTS = ("in_use", "idle", "opening", "waiting", "acquired", "timeouts", "refused", "reclaimed")


@dataclass(frozen=True)
class Hosts:
    """The host agents' answers: each one's summary, and every instance by `host/name` (`error`: the
    hosts that did not answer, and why)."""

    summaries: list[dict[str, Any]]
    instances: dict[str, dict[str, Any]]
    error: str | None = None


@dataclass(frozen=True)
class Pool:
    """A database's connections at this origin, both roles together."""

    limit: int
    counts: dict[str, int]
    wait_ms_p99: float
    wait_ms_max: float

    @property
    def in_use(self) -> int:
        return self.counts["in_use"]


@dataclass(frozen=True)
class Streams:
    since: dt.datetime | None  # when change capture was turned on (None: it is off)
    queue: dict[str, Any] | None = None  # the edge queue's figures
    error: str | None = None


@dataclass(frozen=True)
class LimitsView:
    """Each limit's value and where it comes from: the database's override, else its workspace's plan,
    else the default (origin/limits.py)."""

    effective: dict[str, int]
    overrides: dict[str, int]
    inherited: dict[str, int]  # what an empty override leaves: the plan's, else the default
    plan: dict[str, int]  # the names the plan sets
    plan_name: str | None


@dataclass(frozen=True)
class DatabaseRow:
    db: Database
    instance: dict[str, Any] | None
    pool: Pool
    keys: int
    capturing: bool


@dataclass(frozen=True)
class Overview:
    usage: usage_.OperatorUsage  # workspaces, plans, the month's use and bill
    databases: list[DatabaseRow]
    hosts: Hosts


@dataclass(frozen=True)
class DatabaseFigures:
    db: Database
    instance: dict[str, Any] | None
    hosts_error: str | None
    pool: Pool
    streams: Streams
    limits: LimitsView
    usage: usage_.DatabaseUsage
    latency: Latency | None  # recent query times at this origin; None: none ran here lately
    keys: list[ApiKey] = field(default_factory=list)


async def hosts(state: OriginState) -> Hosts:
    summaries: list[dict[str, Any]] = []
    instances: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for host in await state.host_store.list():
        try:
            answer = await asyncio.wait_for(state.hosts.client_for(host).instances(), 5)
        except BreakwaterError as exc:
            errors.append(f"{host.id}: {exc.message}")
            continue
        except TimeoutError:
            errors.append(f"{host.id}: no answer within 5 s")
            continue
        if answer.get("host"):
            summaries.append(answer["host"])
        for found in answer.get("instances", []):
            instances[instance_key(host.id, found["name"])] = {**found, "host": host.id}
    return Hosts(summaries, instances, "; ".join(errors) or None)


def instance_key(host_id: str, name: str) -> str:
    """Instance names are unique on their host only (every host has a `shared` one)."""
    return f"{host_id}/{name}"


def pool(state: OriginState, database_id: str) -> Pool:
    """Both roles' pools of the database summed (they share its limit); zeros when it has none yet."""
    mine = [p for p in state.tenants.figures()["databases"] if p["database_id"] == database_id]
    counts = {name: sum(int(p[name]) for p in mine) for name in _POOL_COUNTS}
    return Pool(
        limit=max((int(p["limit"]) for p in mine), default=state.tenants.settings.per_database),
        counts=counts,
        wait_ms_p99=max((float(p["wait_ms_p99_recent"]) for p in mine), default=0.0),
        wait_ms_max=max((float(p["wait_ms_max"]) for p in mine), default=0.0),
    )


async def streams(state: OriginState, db: Database) -> Streams:
    since = (await state.store.capture_since([db.id])).get(db.id)
    if since is None:
        return Streams(None)
    try:
        return Streams(since, await state.edge.queue_figures(db.id))
    except BreakwaterError as exc:
        return Streams(since, None, exc.message)


async def limits(state: OriginState, db: Database) -> LimitsView:
    overrides = {k: v for k, v in (await state.store.limit_overrides(db.id)).items() if v is not None}
    plan = await state.store.plan_limits(db.id)
    workspace = await state.store.workspace_by_id(db.workspace_id)
    inherited = limits_.apply(state.tenants.limits.defaults, plan)
    return LimitsView(
        limits_.apply(inherited, overrides).as_dict(),
        overrides,
        inherited.as_dict(),
        plan,
        workspace.plan if workspace else None,
    )


async def overview(state: OriginState) -> Overview:
    found_hosts, databases, keys = await asyncio.gather(
        hosts(state), state.store.list_databases(), state.store.active_key_counts()
    )
    capturing = await state.store.capture_since([d.id for d in databases])
    rows = [
        DatabaseRow(
            db,
            found_hosts.instances.get(instance_key(db.host_id, db.instance)),
            pool(state, db.id),
            keys.get(db.id, 0),
            db.id in capturing,
        )
        for db in databases
    ]
    return Overview(await usage_.operator(state, databases), rows, found_hosts)


async def instance(state: OriginState, db: Database) -> tuple[dict[str, Any] | None, str | None]:
    """The database's instance with its disk use; or None and why."""
    try:
        return await (await state.hosts.agent(db.host_id)).instance(db.instance), None
    except BreakwaterError as exc:
        return None, exc.message


async def database(state: OriginState, db: Database) -> DatabaseFigures:
    (found, error), found_streams, found_limits, found_usage, keys = await asyncio.gather(
        instance(state, db),
        streams(state, db),
        limits(state, db),
        usage_.database(state, db),
        state.store.list_keys(db.id),
    )
    return DatabaseFigures(
        db=db,
        instance=found,
        hosts_error=error,
        pool=pool(state, db.id),
        streams=found_streams,
        limits=found_limits,
        usage=found_usage,
        latency=state.console_latency.of(db.id),
        keys=keys,
    )
