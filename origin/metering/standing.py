"""Reading what a workspace's standing depends on from the control plane: its terms (plan and
limits), its month's operations, its storage now and day by day, and its estimated bill."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from .daily import month_bounds
from .plans import Bill, Plan, days_in_month, estimate, gib_months
from .spend import MonthUse, Standing, Terms, evaluate


@dataclass(frozen=True)
class Account:
    """A workspace's standing, with what it was computed from."""

    workspace_id: str
    terms: Terms
    use: MonthUse
    standing: Standing
    limits_version: int
    webhook_url: str | None
    gib_months: Decimal


async def accounts(pool: asyncpg.Pool, today: dt.date, workspace_id: str | None = None) -> list[Account]:
    """Every workspace's standing this month (or one workspace's)."""
    start, end = month_bounds(today)
    rows = await pool.fetch(
        "SELECT w.id, w.name, w.operations_limit, w.spend_limit, w.alert_percents, w.webhook_url, "
        "w.limits_version, p.name AS plan_name, p.operations, p.storage_bytes, p.databases, "
        "p.monthly_price, p.price_per_million_operations, p.price_per_gib_month, "
        "p.graceful_stop_percent, p.limits "
        "FROM workspaces w JOIN plans p ON p.name = w.plan "
        "WHERE $1::text IS NULL OR w.id = $1 ORDER BY w.created_at",
        workspace_id,
    )
    operations = {
        r["workspace_id"]: int(r["operations"])
        for r in await pool.fetch(
            "SELECT d.workspace_id, sum(u.operations) AS operations FROM usage_daily u "
            "JOIN databases d ON d.id = u.database_id "
            "WHERE u.day >= $1 AND u.day < $2 AND ($3::text IS NULL OR d.workspace_id = $3) "
            "GROUP BY d.workspace_id",
            start,
            end,
            workspace_id,
        )
    }
    storage_now = {
        r["workspace_id"]: int(r["bytes"])
        for r in await pool.fetch(
            "SELECT d.workspace_id, sum(latest.bytes_last) AS bytes FROM databases d "
            "JOIN LATERAL (SELECT s.bytes_last FROM storage_daily s WHERE s.database_id = d.id "
            "  ORDER BY s.day DESC LIMIT 1) latest ON true "
            "WHERE d.deleted_at IS NULL AND ($1::text IS NULL OR d.workspace_id = $1) "
            "GROUP BY d.workspace_id",
            workspace_id,
        )
    }
    daily: dict[str, list[float]] = defaultdict(list)
    for r in await pool.fetch(
        "SELECT d.workspace_id, s.day, sum(s.bytes_sum / s.samples) AS bytes FROM storage_daily s "
        "JOIN databases d ON d.id = s.database_id "
        "WHERE s.day >= $1 AND s.day < $2 AND ($3::text IS NULL OR d.workspace_id = $3) "
        "GROUP BY d.workspace_id, s.day",
        start,
        end,
        workspace_id,
    ):
        daily[r["workspace_id"]].append(float(r["bytes"]))
    month_days = days_in_month(today)
    found = []
    for row in rows:
        plan = Plan.from_row({**dict(row), "name": row["plan_name"]})
        terms = Terms(
            workspace=row["name"],
            plan=plan,
            operations_limit=row["operations_limit"],
            spend_limit=row["spend_limit"],
            alert_percents=tuple(row["alert_percents"]),
        )
        bill: Bill = estimate(plan, operations.get(row["id"], 0), daily[row["id"]], month_days)
        use = MonthUse(operations.get(row["id"], 0), storage_now.get(row["id"], 0), bill)
        found.append(
            Account(
                workspace_id=row["id"],
                terms=terms,
                use=use,
                standing=evaluate(terms, use, today),
                limits_version=row["limits_version"],
                webhook_url=row["webhook_url"],
                gib_months=gib_months(daily[row["id"]], month_days),
            )
        )
    return found
