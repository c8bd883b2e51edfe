"""Placement by what hosts report, as a table of cases (control/placement.py is pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from origin.control.hostrecords import HostRecord
from origin.control.placement import NoHost, PlacementRules, choose
from origin.errors import BreakwaterError

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
GIB = 2**30
RULES = PlacementRules(stale_seconds=15)


def host(
    name: str,
    *,
    state: str = "active",
    seen: float | None = 1.0,
    memory: float = 0.5,
    disk: float = 0.5,
    databases: int = 0,
    dedicated: int = 0,
    cap: int = 0,
) -> HostRecord:
    capacity: dict[str, Any] = {
        "memory_total_kb": 16 * 2**20,
        "memory_available_kb": int(16 * 2**20 * memory),
        "disk_total_bytes": 100 * GIB,
        "disk_free_bytes": int(100 * GIB * disk),
        "max_databases": cap,
    }
    return HostRecord(
        id=name,
        url=f"http://{name}",
        token="t" * 16,
        state=state,
        capacity=capacity,
        proxy=f"{name}:5432",
        last_seen=None if seen is None else NOW - dt.timedelta(seconds=seen),
        created_at=NOW,
        databases=databases,
        dedicated=dedicated,
    )


@pytest.mark.parametrize(
    ("hosts", "placement", "chosen"),
    [
        ([host("a", memory=0.3), host("b", memory=0.6)], "shared", "b"),  # more memory free
        (
            [host("a", disk=0.2), host("b", disk=0.9, memory=0.3)],
            "shared",
            "b",
        ),  # the scarcer resource counts
        ([host("a", memory=0.50, databases=3), host("b", memory=0.52, databases=1)], "shared", "b"),  # noise
        ([host("a", databases=1, dedicated=1), host("b", databases=2)], "shared", "a"),
        ([host("a", databases=1, dedicated=1), host("b", databases=2)], "dedicated", "b"),
        ([host("a", state="cordoned", memory=0.9), host("b")], "shared", "b"),
        ([host("a", state="draining", memory=0.9), host("b")], "shared", "b"),
        ([host("a", seen=60, memory=0.9), host("b")], "shared", "b"),  # silent too long
        ([host("a", seen=None, memory=0.9), host("b")], "shared", "b"),  # never reported
        ([host("a", cap=2, databases=2, memory=0.9), host("b")], "shared", "b"),  # at its cap
        ([host("a", cap=10, databases=8), host("b", cap=10, databases=2)], "shared", "b"),
        ([host("a", disk=0.001, memory=0.9), host("b")], "shared", "b"),  # under the disk floor
        ([host("a"), host("b")], "shared", "a"),  # a tie goes by name
    ],
)
def test_the_host_with_the_most_room_is_chosen(hosts: list[HostRecord], placement: str, chosen: str) -> None:
    assert choose(hosts, placement, NOW, RULES).id == chosen


def test_no_candidate_is_a_no_host_error_that_says_why_each_was_refused() -> None:
    with pytest.raises(NoHost) as refused:
        choose([host("a", state="cordoned"), host("b", seen=60)], "shared", NOW, RULES)
    assert refused.value.code.value == "BW3012" and refused.value.status == 503
    assert refused.value.meta["hosts"]["a"] == "cordoned"
    assert refused.value.meta["hosts"]["b"].startswith("unreachable")


def test_the_operator_may_name_a_full_host_but_not_a_cordoned_or_silent_one() -> None:
    full = host("a", cap=1, databases=1)
    assert choose([full, host("b")], "shared", NOW, RULES, wanted="a").id == "a"
    cases = {"cordoned": ("BW1410", 409), "silent": ("BW3010", 503), "unknown": ("BW1404", 404)}
    hosts = [host("cordoned", state="cordoned"), host("silent", seen=60)]
    for wanted, (code, status) in cases.items():
        with pytest.raises(BreakwaterError) as refused:
            choose(hosts, "shared", NOW, RULES, wanted=wanted)
        assert (refused.value.code.value, refused.value.status) == (code, status)


def test_a_drain_never_chooses_the_host_it_empties() -> None:
    assert (
        choose([host("a", memory=0.9), host("b")], "shared", NOW, RULES, exclude={"a": "draining"}).id == "b"
    )
    with pytest.raises(NoHost) as refused:
        choose([host("a")], "shared", NOW, RULES, exclude={"a": "its agent did not answer"})
    assert refused.value.meta["hosts"] == {"a": "its agent did not answer"}
