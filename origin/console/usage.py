"""Metering's figures for the console (origin/metering/), read with metering's own readers where it has
one: the month's standing and estimated bill per workspace (`standing.accounts`), a database's month
per day (`daily.database_month`), the plans (`PlanBook`). The one read of its own here is the month's
operations per day of each workspace, summed over its databases in `usage_daily` (metering keeps
them per database and day).

Nothing here counts: the figures are what metering has counted, which trails traffic by its flush
interval (`BREAKWATER_METER_FLUSH_SECONDS` at the origin; the edge reports its cache hits in batches).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..control.store import Database, Workspace
from ..metering.daily import database_month, month_bounds
from ..metering.plans import Plan, days_in_month
from ..metering.standing import Account, accounts
from ..state import OriginState
from . import charts


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def month_days(day: dt.date) -> list[dt.date]:
    """Every day of `day`'s month, so a chart's axis is the whole month."""
    first = day.replace(day=1)
    return [first + dt.timedelta(days=n) for n in range(days_in_month(day))]


@dataclass(frozen=True)
class WorkspaceUsage:
    workspace: Workspace
    databases: int
    account: Account | None  # None: its plan is gone (never in practice: plans are referenced)
    operations_by_day: dict[dt.date, int]

    @property
    def plan(self) -> Plan | None:
        return self.account.terms.plan if self.account else None

    @property
    def operations_allowed(self) -> int | None:
        """The operations the month may have before queries stop, or those the plan includes."""
        if self.account is None:
            return None
        terms = self.account.terms
        if terms.operations_limit is not None:
            return terms.operations_limit
        return terms.plan.operations


@dataclass(frozen=True)
class OperatorUsage:
    month: dt.date
    workspaces: list[WorkspaceUsage]
    plans: list[Plan]

    @property
    def workspace_names(self) -> dict[str, str]:
        return {w.workspace.id: w.workspace.name for w in self.workspaces}


async def operator(state: OriginState, databases: list[Database]) -> OperatorUsage:
    day = today()
    found = {a.workspace_id: a for a in await accounts(state.store.pool, day)}
    start, end = month_bounds(day)
    per_day: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for row in await state.store.pool.fetch(
        "SELECT d.workspace_id, u.day, sum(u.operations) AS operations FROM usage_daily u "
        "JOIN databases d ON d.id = u.database_id WHERE u.day >= $1 AND u.day < $2 "
        "GROUP BY d.workspace_id, u.day",
        start,
        end,
    ):
        per_day[row["workspace_id"]][row["day"]] = int(row["operations"])
    counts: dict[str, int] = defaultdict(int)
    for db in databases:
        counts[db.workspace_id] += 1
    workspaces = [
        WorkspaceUsage(w, counts[w.id], found.get(w.id), per_day[w.id])
        for w in await state.store.list_workspaces()
    ]
    return OperatorUsage(start, workspaces, await state.metering.plans.list())


@dataclass(frozen=True)
class DatabaseUsage:
    """A database's month: totals, storage, and each day's figures (days without any left out)."""

    month: dt.date
    totals: dict[str, Any]
    storage_bytes: int | None
    storage_sampled_at: str | None
    days: dict[dt.date, dict[str, Any]]

    @property
    def cache_hit_ratio(self) -> float | None:
        operations = self.totals["operations"]
        return self.totals["cache_hits"] / operations if operations else None


async def database(state: OriginState, db: Database) -> DatabaseUsage:
    month = today().replace(day=1)
    found = await database_month(state.store.pool, db.id, month)
    return DatabaseUsage(
        month,
        found["totals"],
        found["storage_bytes"],
        found["storage_sampled_at"],
        {dt.date.fromisoformat(d["day"]): d for d in found["days"]},
    )


# --- charts: the month's days as columns -------------------------------------------------------------


def _day_label(day: dt.date) -> str:
    return day.strftime("%b %-d")


def operations_columns(by_day: dict[dt.date, int], month: dt.date) -> list[charts.Bar]:
    return [
        charts.Bar(_day_label(d), float(by_day.get(d, 0)), f"{by_day.get(d, 0):,} operations")
        for d in month_days(month)
    ]


def figure_columns(
    days: dict[dt.date, dict[str, Any]], month: dt.date, name: str, text: Any
) -> list[charts.Bar]:
    """One figure of each day of the month (0 on days without any): `text` writes a value."""
    found = []
    for d in month_days(month):
        value = (days.get(d) or {}).get(name) or 0
        found.append(charts.Bar(_day_label(d), float(value), text(value)))
    return found


def hit_ratio_columns(days: dict[dt.date, dict[str, Any]], month: dt.date) -> list[charts.Bar]:
    """Each day's share of operations the edge answered from its cache, in percent (none: no operations)."""
    found = []
    for d in month_days(month):
        figures = days.get(d)
        if not figures or not figures["operations"]:
            found.append(charts.Bar(_day_label(d), 0.0, "no operations"))
            continue
        percent = 100.0 * figures["cache_hits"] / figures["operations"]
        found.append(charts.Bar(_day_label(d), percent, f"{percent:.0f} % from the cache"))
    return found
