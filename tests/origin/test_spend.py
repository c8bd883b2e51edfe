"""Plans, the estimated bill and where a workspace stands (origin/metering/plans.py, spend.py): pure
functions of the plan, the limits and the month's use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bwcontract.usage import CACHE_ONLY, OK, STOPPED
from origin.metering.plans import GIB, Bill, Plan, days_in_month, estimate
from origin.metering.spend import MonthUse, Terms, evaluate, thresholds

FREE = Plan("free", operations=100_000, storage_bytes=GIB, databases=10)
PRO = Plan(
    "pro",
    operations=1_000_000,
    storage_bytes=10 * GIB,
    monthly_price=Decimal("29"),
    price_per_million_operations=Decimal("8"),
    price_per_gib_month=Decimal("2"),
)
DAY = dt.date(2026, 12, 6)
NOTHING = Bill(Decimal(0), Decimal(0), Decimal(0))


def use(operations: int, storage: int = 0, bill: Bill = NOTHING) -> MonthUse:
    return MonthUse(operations, storage, bill)


def test_the_bill_charges_only_beyond_what_the_plan_includes() -> None:
    assert estimate(FREE, 5_000_000, [5.0 * GIB] * 31, 31).total == 0  # no rates: refused, not billed
    bill = estimate(PRO, 3_500_000, [12.0 * GIB] * 15 + [10.0 * GIB] * 16, 31)
    assert bill.operations_charge == Decimal("20.0000")  # 2.5 M beyond, at 8 a million
    assert bill.storage_charge == Decimal("1.9355")  # 2 GiB over for 15 of 31 days, at 2 a GiB-month
    assert (bill.usage, bill.total) == (Decimal("21.9355"), Decimal("50.9355"))
    assert days_in_month(dt.date(2028, 2, 10)) == 29


def test_the_free_plan_stops_at_its_operations_and_alerts_before() -> None:
    terms = Terms("team", FREE)
    assert evaluate(terms, use(74_999), DAY).state == OK
    assert evaluate(terms, use(75_000), DAY).percent == 75.0
    stopped = evaluate(terms, use(100_000), DAY)
    assert (stopped.state, stopped.limit) == (STOPPED, "operations")
    assert "100,000 operations this month, of the 100,000 operations plan 'free' allows" in stopped.message
    assert "until the month ends (2027-01-01 00:00 UTC)" in stopped.message
    assert "breakwater limit set team --operations" in stopped.hint
    assert thresholds(terms) == [75, 100]
    # A new month starts from zero: the same workspace is let through again.
    assert evaluate(terms, use(0), dt.date(2027, 1, 1)).state == OK


def test_storage_and_spend_limits_and_the_furthest_wins() -> None:
    full = evaluate(Terms("team", FREE), use(10, storage=2 * GIB), DAY)
    assert (full.state, full.limit, full.percent) == (STOPPED, "storage", 200.0)
    assert "until storage is back under the limit" in full.message
    spending = Terms("team", PRO, spend_limit=Decimal("20"))
    bill = estimate(PRO, 3_000_000, [], 31)  # 16 beyond the plan's price
    assert evaluate(spending, use(3_000_000, bill=bill), DAY).percent == 80.0
    over = estimate(PRO, 4_000_000, [], 31)
    standing = evaluate(spending, use(4_000_000, bill=over), DAY)
    assert (standing.state, standing.limit) == (STOPPED, "spend")
    assert "spend limit of 20.0000" in standing.message and "--spend" in standing.hint
    assert evaluate(Terms("team", PRO), use(50_000_000), DAY).state == OK  # billed, never stopped


def test_a_graceful_plan_serves_cache_hits_only_until_its_second_threshold() -> None:
    plan = Plan("soft", operations=1000, graceful_stop_percent=150)
    terms = Terms("team", plan, alert_percents=(50, 75))
    assert evaluate(terms, use(999), DAY).state == OK
    soft = evaluate(terms, use(1000), DAY)
    assert soft.state == CACHE_ONLY and "only cached reads are served" in soft.message
    assert evaluate(terms, use(1499), DAY).state == CACHE_ONLY
    assert evaluate(terms, use(1500), DAY).state == STOPPED
    assert thresholds(terms) == [50, 75, 100, 150]


def test_an_operators_limit_overrides_the_plans_and_zero_stops_at_once() -> None:
    assert evaluate(Terms("team", FREE, operations_limit=500), use(500), DAY).state == STOPPED
    assert evaluate(Terms("team", PRO, operations_limit=10), use(10), DAY).state == STOPPED
    assert evaluate(Terms("team", FREE, operations_limit=0), use(0), DAY).state == STOPPED
    assert evaluate(Terms("team", Plan("unlimited")), use(10**12), DAY).state == OK
