"""The console's month of days: every day of the month on the axis, figures where metering has them."""

from __future__ import annotations

import datetime as dt

from origin.console import usage


def test_a_month_has_all_its_days() -> None:
    assert len(usage.month_days(dt.date(2026, 2, 14))) == 28
    days = usage.month_days(dt.date(2024, 2, 29))
    assert (days[0], days[-1], len(days)) == (dt.date(2024, 2, 1), dt.date(2024, 2, 29), 29)


def test_operations_fill_the_month_with_zeros() -> None:
    columns = usage.operations_columns({dt.date(2026, 12, 6): 1234}, dt.date(2026, 12, 1))
    assert len(columns) == 31
    assert (columns[5].label, columns[5].value, columns[5].text) == ("Dec 6", 1234.0, "1,234 operations")
    assert sum(c.value for c in columns) == 1234


def test_the_hit_ratio_is_per_day_and_says_when_there_was_nothing() -> None:
    days = {
        dt.date(2026, 12, 1): {"operations": 4, "cache_hits": 1},
        dt.date(2026, 12, 2): {"operations": 0, "cache_hits": 0},
    }
    columns = usage.hit_ratio_columns(days, dt.date(2026, 12, 1))
    assert (columns[0].value, columns[0].text) == (25.0, "25 % from the cache")
    assert (columns[1].value, columns[1].text) == (0.0, "no operations")
    assert columns[2].text == "no operations"


def test_a_figure_of_each_day_writes_its_value() -> None:
    days = {dt.date(2026, 11, 3): {"egress_bytes": 2048, "storage_bytes": None}}
    egress = usage.figure_columns(days, dt.date(2026, 11, 1), "egress_bytes", lambda v: f"{v} B")
    assert (len(egress), egress[2].value, egress[2].text, egress[0].text) == (30, 2048.0, "2048 B", "0 B")
    storage = usage.figure_columns(days, dt.date(2026, 11, 1), "storage_bytes", str)
    assert storage[2].value == 0.0
