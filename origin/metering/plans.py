"""Plans (what a workspace may use and what it costs) and the estimated bill for a month.

A plan includes some operations and storage per month. Use beyond them is billed at the plan's rate
when it has one; a plan without a rate (the `free` plan) stops at what it includes instead. Storage is
billed per GiB-month: each day's average size beyond what the plan includes, a day being 1/days-in-
the-month of a month. Amounts are decimals in the deployment's currency; the API writes them as
strings ("2.5000").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from bwcontract.codes import Code

from .. import limits as limits_
from ..errors import BreakwaterError, NotFound
from ..jsoninput import validated

GIB = 1024**3
MILLION = Decimal(1_000_000)
DEFAULT_PLAN = "free"

_COLUMNS = (
    "name, operations, storage_bytes, databases, monthly_price, price_per_million_operations, "
    "price_per_gib_month, graceful_stop_percent, limits"
)


@dataclass(frozen=True)
class Plan:
    name: str
    operations: int | None = None  # included per month (None: no cap, none included)
    storage_bytes: int | None = None  # included
    databases: int | None = None  # live databases a workspace may have
    monthly_price: Decimal = Decimal(0)
    price_per_million_operations: Decimal | None = None  # beyond the included; None: refused beyond
    price_per_gib_month: Decimal | None = None
    graceful_stop_percent: int | None = None  # from 100 % to this, cache hits only; None: stop at 100 %
    limits: dict[str, int] = field(default_factory=dict)  # per-database limits (origin/limits.py)

    @property
    def operations_cap(self) -> int | None:
        """Operations a month beyond which queries stop (no rate to bill them at)."""
        return self.operations if self.price_per_million_operations is None else None

    @property
    def storage_cap(self) -> int | None:
        return self.storage_bytes if self.price_per_gib_month is None else None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "operations": self.operations,
            "storage_bytes": self.storage_bytes,
            "databases": self.databases,
            "monthly_price": money(self.monthly_price),
            "price_per_million_operations": money(self.price_per_million_operations),
            "price_per_gib_month": money(self.price_per_gib_month),
            "graceful_stop_percent": self.graceful_stop_percent,
            "limits": dict(self.limits),
        }

    @classmethod
    def from_row(cls, row: Any) -> Plan:
        raw = row["limits"]
        return cls(
            name=row["name"],
            operations=row["operations"],
            storage_bytes=row["storage_bytes"],
            databases=row["databases"],
            monthly_price=row["monthly_price"],
            price_per_million_operations=row["price_per_million_operations"],
            price_per_gib_month=row["price_per_gib_month"],
            graceful_stop_percent=row["graceful_stop_percent"],
            limits=json.loads(raw) if isinstance(raw, str) else dict(raw or {}),
        )


def money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.4f}"


@dataclass(frozen=True)
class Bill:
    monthly_price: Decimal
    operations_charge: Decimal
    storage_charge: Decimal

    @property
    def usage(self) -> Decimal:
        """What the month's use costs beyond the plan's price (what a spend limit bounds)."""
        return self.operations_charge + self.storage_charge

    @property
    def total(self) -> Decimal:
        return self.monthly_price + self.usage

    def as_json(self) -> dict[str, str | None]:
        return {
            "monthly_price": money(self.monthly_price),
            "operations_charge": money(self.operations_charge),
            "storage_charge": money(self.storage_charge),
            "usage": money(self.usage),
            "total": money(self.total),
        }


def days_in_month(day: dt.date) -> int:
    following = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return (following - day.replace(day=1)).days


def gib_months(daily_bytes: Iterable[float], month_days: int) -> Decimal:
    """GiB-months of a month so far: each day's average size over the month's days."""
    return sum((Decimal(b) / GIB for b in daily_bytes), Decimal(0)) / month_days


def estimate(plan: Plan, operations: int, daily_bytes: Iterable[float], month_days: int) -> Bill:
    """The month's bill so far: `operations` this month, `daily_bytes` each day's average storage."""
    operations_charge = Decimal(0)
    if plan.price_per_million_operations is not None:
        beyond = max(0, operations - (plan.operations or 0))
        operations_charge = plan.price_per_million_operations * beyond / MILLION
    storage_charge = Decimal(0)
    if plan.price_per_gib_month is not None:
        included = plan.storage_bytes or 0
        over = gib_months((max(0.0, b - included) for b in daily_bytes), month_days)
        storage_charge = plan.price_per_gib_month * over
    return Bill(
        plan.monthly_price,
        operations_charge.quantize(Decimal("0.0001")),
        storage_charge.quantize(Decimal("0.0001")),
    )


# --- operators define plans --------------------------------------------------------------------------

_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_Count = Annotated[int | None, Field(strict=True, ge=0, le=2**62, description="a whole number, or null")]
_Money = Annotated[
    Decimal | None,
    Field(
        ge=0, le=10**9, max_digits=14, decimal_places=4, allow_inf_nan=False, description="an amount, or null"
    ),
]


class PlanTerms(BaseModel):
    """A plan's settings (`PUT /admin/plans/{name}` changes those given; null clears one)."""

    model_config = ConfigDict(extra="forbid")

    operations: _Count = None
    storage_bytes: _Count = None
    databases: Annotated[int | None, Field(strict=True, ge=0, le=1_000_000)] = None
    monthly_price: Annotated[Decimal, Field(ge=0, le=10**9, max_digits=14, decimal_places=4)] = Decimal(0)
    price_per_million_operations: _Money = None
    price_per_gib_month: _Money = None
    graceful_stop_percent: Annotated[
        int | None, Field(strict=True, gt=100, le=10_000, description="a percent above 100, or null")
    ] = None
    limits: dict[str, int] = Field(default_factory=dict, description="per-database limits, as `db limits`")


class NewPlan(PlanTerms):
    name: str = Field(strict=True, pattern=_NAME, description="1-40 lowercase letters, digits, '_' or '-'")


def checked_limits(limits: dict[str, int]) -> dict[str, int]:
    """A plan's per-database limits, each within the range a database's own may take."""
    parsed = validated(limits_.Overrides, limits, "limits").model_dump(exclude_unset=True)
    return {k: int(v) for k, v in parsed.items() if v is not None}


class PlanBook:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list(self) -> list[Plan]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM plans ORDER BY created_at, name")
        return [Plan.from_row(r) for r in rows]

    async def get(self, name: str) -> Plan:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM plans WHERE name = $1", name)
        if row is None:
            raise NotFound(f"There is no plan named {name!r}.", hint="`breakwater plan list` shows them.")
        return Plan.from_row(row)

    async def create(self, wanted: NewPlan) -> Plan:
        values = wanted.model_dump()
        values["limits"] = json.dumps(checked_limits(values["limits"]))
        row = await self._pool.fetchrow(
            f"INSERT INTO plans ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) "
            f"ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}",
            *(values[name.strip()] for name in _COLUMNS.split(",")),
        )
        if row is None:
            raise BreakwaterError(f"A plan named {wanted.name!r} exists already.", code=Code.ALREADY_EXISTS)
        return Plan.from_row(row)

    async def change(self, name: str, changes: dict[str, Any]) -> Plan:
        """Set the settings given (a validated PlanTerms' fields); the others stay."""
        current = (await self.get(name)).as_json()
        current.pop("name")
        merged = PlanTerms.model_validate({**current, **changes})
        values = merged.model_dump()
        values["limits"] = json.dumps(checked_limits(values["limits"]))
        names = [n.strip() for n in _COLUMNS.split(",")][1:]
        assignments = ", ".join(
            f"{n} = ${i + 2}" + ("::jsonb" if n == "limits" else "") for i, n in enumerate(names)
        )
        row = await self._pool.fetchrow(
            f"UPDATE plans SET {assignments}, updated_at = now() WHERE name = $1 RETURNING {_COLUMNS}",
            name,
            *(values[n] for n in names),
        )
        # Every workspace on the plan has new limits: alerts may fire again.
        await self._pool.execute(
            "UPDATE workspaces SET limits_version = limits_version + 1 WHERE plan = $1", name
        )
        return Plan.from_row(row)
