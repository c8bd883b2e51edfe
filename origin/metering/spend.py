"""Where a workspace stands against its limits: a pure function of its terms, its month's use and the
day, so the rule is tested on its own (tests/origin/test_spend.py).

A workspace's limits are, whichever apply: its operations this month against an operations cap (the
operator's `operations_limit`, else the plan's included operations when the plan has no rate for
more), its storage against the plan's included storage when the plan has no storage rate, and its
usage charges this month against its spend limit. Its percent is the highest of these. Below 100 %
it is `ok`; from 100 % it is `stopped`, unless the plan has a graceful step: then it serves cache hits
only (`cache_only`) until the percent reaches the plan's `graceful_stop_percent`. A month that rolls
over starts operations and charges from zero again; storage is what it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bwcontract.usage import CACHE_ONLY, OK, STOPPED

from .plans import GIB, Bill, Plan, money


@dataclass(frozen=True)
class Terms:
    workspace: str  # its name
    plan: Plan
    operations_limit: int | None = None
    spend_limit: Decimal | None = None
    alert_percents: tuple[int, ...] = (75,)


@dataclass(frozen=True)
class MonthUse:
    operations: int
    storage_bytes: int  # now: the latest samples of its live databases
    bill: Bill


@dataclass(frozen=True)
class Standing:
    state: str  # ok | cache_only | stopped
    percent: float
    limit: str | None  # operations | storage | spend: the one furthest used
    message: str = ""
    hint: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "percent": round(self.percent, 2),
            "limit": self.limit,
            "message": self.message,
            "hint": self.hint,
        }


def _percent(used: float, cap: float) -> float:
    if cap <= 0:
        return 100.0 if used > 0 or cap == 0 else 0.0
    return used * 100.0 / cap


def evaluate(terms: Terms, use: MonthUse, today: dt.date) -> Standing:
    plan, name = terms.plan, terms.workspace
    candidates: list[tuple[float, str, str, str]] = []  # percent, limit, what, hint
    operations_cap = terms.operations_limit if terms.operations_limit is not None else plan.operations_cap
    if operations_cap is not None:
        source = "its operations limit" if terms.operations_limit is not None else f"plan {plan.name!r}"
        candidates.append(
            (
                _percent(use.operations, operations_cap),
                "operations",
                f"has used {use.operations:,} operations this month, of the {operations_cap:,} "
                f"operations {source} allows",
                f"An operator can raise the limit (`breakwater limit set {name} --operations N`) or move the "
                f"workspace to another plan (`breakwater plan set {name} PLAN`); it lifts at once.",
            )
        )
    if plan.storage_cap is not None:
        candidates.append(
            (
                _percent(use.storage_bytes, plan.storage_cap),
                "storage",
                f"stores {use.storage_bytes / GIB:.2f} GiB, of the {plan.storage_cap / GIB:.2f} GiB plan "
                f"{plan.name!r} includes",
                "Delete data (the database's Postgres DSN still works), or an operator moves the workspace "
                f"to a plan with more storage (`breakwater plan set {name} PLAN`).",
            )
        )
    if terms.spend_limit is not None:
        candidates.append(
            (
                _percent(float(use.bill.usage), float(terms.spend_limit)),
                "spend",
                f"has usage charges of {money(use.bill.usage)} this month, of its spend limit of "
                f"{money(terms.spend_limit)}",
                f"An operator can raise the spend limit (`breakwater limit set {name} --spend AMOUNT`); "
                "it lifts at once.",
            )
        )
    if not candidates:
        return Standing(OK, 0.0, None)
    percent, limit, what, hint = max(candidates, key=lambda c: c[0])
    if percent < 100:
        return Standing(OK, percent, limit)
    graceful = plan.graceful_stop_percent
    until = (
        "until storage is back under the limit"
        if limit == "storage"
        else f"until the month ends ({_next_month(today).isoformat()} 00:00 UTC)"
    )
    head = f"Workspace {name!r} {what} ({percent:.0f} %)"
    if graceful is not None and percent < graceful:
        message = (
            f"{head}: only cached reads are served {until}, or until use reaches {graceful} % and every "
            "query is paused; queries that need the database are refused."
        )
        return Standing(CACHE_ONLY, percent, limit, message, hint)
    return Standing(STOPPED, percent, limit, f"{head}: queries are paused {until}.", hint)


def thresholds(terms: Terms) -> list[int]:
    """The percents at which an alert goes out: the workspace's, 100, and the graceful stop."""
    found = {p for p in terms.alert_percents if 0 < p < 100} | {100}
    if terms.plan.graceful_stop_percent is not None:
        found.add(terms.plan.graceful_stop_percent)
    return sorted(found)


def _next_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
