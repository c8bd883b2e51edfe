"""The event log: idempotent ordered appends, two tiers read as one, retention held by streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bwedge.eventlog import EventLog, InvalidBatch, LogLimits
from bwedge.offsets import ZERO, Position
from edge_local.events import FileBlobStore
from edge_local.storage import SqliteStorage
from tests.cdc.helpers import Clock, event


def make_log(tmp_path: Path, clock: Clock | None = None, **limits: float) -> tuple[EventLog, FileBlobStore]:
    blobs = FileBlobStore(tmp_path / "r2")
    log = EventLog(
        SqliteStorage(tmp_path / "do.sqlite"), blobs, clock or Clock(), "events/db1", LogLimits(**limits)
    )  # type: ignore[arg-type]
    return log, blobs


async def offsets(log: EventLog, after: Position = ZERO) -> list[str]:
    found: list[str] = []
    while page := await log.read_after(after, 3):
        found += [e.position.offset for e in page]
        after = page[-1].position
    return found


async def test_appending_twice_stores_each_event_once_in_order(tmp_path: Path) -> None:
    log, _ = make_log(tmp_path)
    first = await log.append([event(10), event(10, 1), event(20)])
    again = await log.append([event(10, 1), event(20), event(30)])
    assert (len(first.stored), first.duplicates) == (3, 0)
    assert ([e.position for e in again.stored], again.duplicates, again.head) == (
        [Position(30, 0)],
        2,
        Position(30, 0),
    )
    assert await offsets(log) == [
        Position(10, 0).offset,
        Position(10, 1).offset,
        Position(20, 0).offset,
        Position(30, 0).offset,
    ]


async def test_a_batch_out_of_order_is_refused_whole(tmp_path: Path) -> None:
    log, _ = make_log(tmp_path)
    with pytest.raises(InvalidBatch):
        await log.append([event(20), event(10)])
    with pytest.raises(InvalidBatch):
        await log.append([{"modelName": "User"}])
    assert log.head() == ZERO and await offsets(log) == []


async def test_an_event_over_the_tier1_value_limit_goes_to_r2_and_reads_back_whole(tmp_path: Path) -> None:
    log, _ = make_log(tmp_path, inline_limit=1000)
    big = event(10, body="x" * 5000)
    await log.append([big, event(11)])
    objects = sorted(p.name for p in (tmp_path / "r2").rglob("*.json"))
    assert objects == [f"{Position(10, 0).offset}.json"]
    page = await log.read_after(ZERO, 10)
    assert json.loads(page[0].body) == big and len(page) == 2


async def test_compaction_moves_the_cold_tail_to_r2_segments_and_reads_stay_seamless(tmp_path: Path) -> None:
    log, _ = make_log(tmp_path, hot_events=4, segment_events=3, inline_limit=300)
    await log.append([event(n, body="y" * (400 if n == 2 else 1)) for n in range(1, 11)])
    assert await log.compact() == 2
    assert log.tier1_count() == 4
    assert len(list((tmp_path / "r2").rglob("*.jsonl"))) == 2
    assert await offsets(log) == [Position(n, 0).offset for n in range(1, 11)]
    assert await offsets(log, Position(5, 0)) == [Position(n, 0).offset for n in range(6, 11)]
    assert log.oldest() == Position(1, 0)


async def test_retention_deletes_old_events_but_not_what_a_stream_still_needs(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    log, _ = make_log(tmp_path, clock, hot_events=2, segment_events=2, retention_seconds=60, inline_limit=300)
    await log.append([event(n, body="z" * (400 if n == 1 else 1)) for n in range(1, 7)])
    await log.compact()
    clock.now += 61
    assert await log.expire(floor=Position(2, 0)) == 2  # one segment: events 1 and 2
    assert await offsets(log) == [Position(n, 0).offset for n in range(3, 7)]
    assert list((tmp_path / "r2").rglob("*.json")) == []  # the oversize event went with its segment
    assert await log.expire(floor=log.head()) == 4
    assert await offsets(log) == [] and log.head() == Position(6, 0)


async def test_nothing_younger_than_the_retention_period_is_deleted(tmp_path: Path) -> None:
    log, _ = make_log(tmp_path, retention_seconds=60)
    await log.append([event(1), event(2)])
    assert await log.expire(floor=log.head()) == 0
