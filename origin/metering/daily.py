"""Daily usage per database (the `usage_daily` table): the ledger's first sink, and the figures read
back for the admin API, `GET /v1/usage` and the CLI.

An operation (README, "Usage, plans and spend limits"): every Prisma model operation, raw query,
`/v1` query and Prisma 7 plan the origin read, whatever its SQL and whether it succeeded (a batch of N
is N), plus every answer the edge gave from its cache. Operations of an interactive transaction count
as they run. Not counted: requests refused before an operation was read (a bad key, a malformed
body, the plan limit), transaction start, commit and rollback, schema uploads, and the edge's own
refreshes of cached answers (the client was answered from the cache: that hit counted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bwcontract.usage import CACHE_KINDS, HitCount

from ..observe import Observation

_FIGURES = (
    "operations",
    "cache_hits",
    "database_operations",
    "errors",
    "egress_bytes",
    "timed_operations",
    "duration_ms_total",
)


@dataclass
class Day:
    operations: int = 0
    cache_hits: int = 0
    database_operations: int = 0
    errors: int = 0
    egress_bytes: int = 0
    timed_operations: int = 0
    duration_ms_total: float = 0.0


def utc_day(unix: float) -> dt.date:
    return dt.datetime.fromtimestamp(unix, dt.UTC).date()


def from_observations(observations: Iterable[Observation]) -> dict[tuple[str, dt.date], Day]:
    days: dict[tuple[str, dt.date], Day] = {}
    for seen in observations:
        if seen.background:
            continue  # the edge refreshing its cache: the client's answer was a counted hit
        day = days.setdefault((seen.database_id, utc_day(seen.arrived_at)), Day())
        day.operations += 1
        day.database_operations += 1
        day.errors += seen.error is not None
        day.egress_bytes += seen.response_bytes
        if seen.duration_ms is not None:
            day.timed_operations += 1
            day.duration_ms_total += seen.duration_ms
    return days


def from_hits(counts: Iterable[HitCount]) -> dict[tuple[str, dt.date], Day]:
    days: dict[tuple[str, dt.date], Day] = {}
    for count in counts:
        day = days.setdefault((count.database_id, dt.date.fromisoformat(count.day)), Day())
        day.operations += count.count
        if count.kind in CACHE_KINDS:
            day.cache_hits += count.count
        else:
            day.database_operations += count.count  # a miss that shared another's origin answer
        day.egress_bytes += count.bytes
    return days


async def add(conn: asyncpg.Connection, days: dict[tuple[str, dt.date], Day]) -> None:
    if not days:
        return
    keys = list(days)
    columns: list[list[Any]] = [[k[0] for k in keys], [k[1] for k in keys]]
    columns += [[getattr(days[k], name) for k in keys] for name in _FIGURES]
    await conn.execute(
        "INSERT INTO usage_daily AS u (database_id, day, " + ", ".join(_FIGURES) + ") "
        "SELECT * FROM unnest($1::text[], $2::date[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], "
        "$7::int8[], $8::int8[], $9::float8[]) "
        "ON CONFLICT (database_id, day) DO UPDATE SET "
        + ", ".join(f"{name} = u.{name} + EXCLUDED.{name}" for name in _FIGURES),
        *columns,
    )


class DailyUsage:
    """The ledger sink writing `usage_daily`."""

    async def observed(self, conn: asyncpg.Connection, observations: Sequence[Observation]) -> None:
        await add(conn, from_observations(observations))

    async def hits(self, conn: asyncpg.Connection, counts: Sequence[HitCount]) -> None:
        await add(conn, from_hits(counts))


# --- reading figures back --------------------------------------------------------------------------


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of `month`'s month and of the next."""
    start = month.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return start, following


def figures(row: Any) -> dict[str, Any]:
    """One row's figures as the API gives them (averages computed, None when there is nothing)."""
    operations, timed = int(row["operations"]), int(row["timed_operations"])
    return {
        "operations": operations,
        "cache_hits": int(row["cache_hits"]),
        "database_operations": int(row["database_operations"]),
        "errors": int(row["errors"]),
        "egress_bytes": int(row["egress_bytes"]),
        "average_duration_ms": round(float(row["duration_ms_total"]) / timed, 3) if timed else None,
        "average_response_bytes": round(int(row["egress_bytes"]) / operations) if operations else None,
    }


_SUMS = ", ".join(f"coalesce(sum(u.{name}), 0) AS {name}" for name in _FIGURES)


async def database_month(pool: asyncpg.Pool, database_id: str, month: dt.date) -> dict[str, Any]:
    """A database's figures for a month: per day, and the month's totals, with storage."""
    start, end = month_bounds(month)
    rows = await pool.fetch(
        "SELECT u.*, s.bytes_last FROM usage_daily u "
        "LEFT JOIN storage_daily s ON s.database_id = u.database_id AND s.day = u.day "
        "WHERE u.database_id = $1 AND u.day >= $2 AND u.day < $3 ORDER BY u.day",
        database_id,
        start,
        end,
    )
    total = await pool.fetchrow(
        f"SELECT {_SUMS} FROM usage_daily u WHERE u.database_id = $1 AND u.day >= $2 AND u.day < $3",
        database_id,
        start,
        end,
    )
    storage = await pool.fetchrow(
        "SELECT bytes_last, sampled_at FROM storage_daily WHERE database_id = $1 AND day < $2 "
        "ORDER BY day DESC LIMIT 1",
        database_id,
        end,
    )
    return {
        "month": start.strftime("%Y-%m"),
        "totals": figures(total),
        "storage_bytes": int(storage["bytes_last"]) if storage else None,
        "storage_sampled_at": _iso(storage["sampled_at"]) if storage else None,
        "days": [
            {
                "day": row["day"].isoformat(),
                **figures(row),
                "storage_bytes": int(row["bytes_last"]) if row["bytes_last"] is not None else None,
            }
            for row in rows
        ],
    }


async def databases_month(
    pool: asyncpg.Pool, month: dt.date, workspace_id: str | None = None
) -> list[dict[str, Any]]:
    """Every live database's totals for a month (of one workspace, or all), with its latest storage."""
    start, end = month_bounds(month)
    rows = await pool.fetch(
        f"SELECT d.id, d.name, w.name AS workspace, {_SUMS}, "
        "(SELECT s.bytes_last FROM storage_daily s WHERE s.database_id = d.id AND s.day < $2 "
        " ORDER BY s.day DESC LIMIT 1) AS storage_bytes "
        "FROM databases d JOIN workspaces w ON w.id = d.workspace_id "
        "LEFT JOIN usage_daily u ON u.database_id = d.id AND u.day >= $1 AND u.day < $2 "
        "WHERE d.deleted_at IS NULL AND ($3::text IS NULL OR d.workspace_id = $3) "
        "GROUP BY d.id, d.name, w.name ORDER BY w.name, d.created_at",
        start,
        end,
        workspace_id,
    )
    return [
        {
            "database": row["name"],
            "database_id": row["id"],
            "workspace": row["workspace"],
            **figures(row),
            "storage_bytes": int(row["storage_bytes"]) if row["storage_bytes"] is not None else None,
        }
        for row in rows
    ]


def _iso(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).isoformat()
