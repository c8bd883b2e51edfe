"""The event log: idempotent ordered appends, two tiers read as one, retention held by streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bwcontract.offsets import ZERO, Position
from bwedge.eventlog import EventLog, InvalidBatch, LogLimits
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


def parts_of(big: dict[str, object], size: int) -> list[str]:
    text = json.dumps(big, separators=(",", ":"))
    return [text[i : i + size] for i in range(0, len(text), size)]


def stub_of(big: dict[str, object], count: int) -> dict[str, object]:
    return {**{k: big[k] for k in ("id", "offset", "modelName", "action")}, "$parts": count}


async def test_an_event_sent_in_parts_reads_back_whole_from_either_tier(tmp_path: Path) -> None:
    log, _ = make_log(tmp_path, hot_events=1, segment_events=2)
    big = event(10, body="é" * 5000)  # multi-byte text: parts are split by character
    pieces = parts_of(big, 1500)
    for index, piece in reversed(list(enumerate(pieces))):  # any order
        assert await log.store_part(Position(10, 0), index, len(pieces), piece) is True
    appended = await log.append([event(9), stub_of(big, len(pieces)), event(11)])
    assert len(appended.stored) == 3
    page = await log.read_after(Position(9, 0), 10)
    assert json.loads(page[0].body) == big and page[0].model == "User"
    assert await log.compact() == 1  # events 9 and 10 move to a segment; 10 stays a reference
    page = await log.read_after(Position(9, 0), 10)
    assert json.loads(page[0].body) == big
    assert await offsets(log) == [Position(n, 0).offset for n in (9, 10, 11)]
    # Once stored, a redelivered part is not needed and not written again.
    assert await log.store_part(Position(10, 0), 0, len(pieces), pieces[0]) is False


async def test_a_stub_whose_parts_did_not_all_arrive_fails_its_batch_whole(tmp_path: Path) -> None:
    log, _ = make_log(tmp_path)
    big = event(10, body="x" * 5000)
    pieces = parts_of(big, 2000)
    await log.store_part(Position(10, 0), 0, len(pieces), pieces[0])
    with pytest.raises(InvalidBatch, match="1 of its 3 parts"):
        await log.append([event(9), stub_of(big, len(pieces))])
    assert log.head() == ZERO  # nothing of the batch was stored, the origin retries it
    for index, piece in enumerate(pieces):
        await log.store_part(Position(10, 0), index, len(pieces), piece)
    assert len((await log.append([event(9), stub_of(big, len(pieces))])).stored) == 2


@pytest.mark.parametrize(("index", "count"), [(0, 1), (3, 3), (-1, 2), (0, 5000)])
async def test_impossible_part_numbers_are_refused(tmp_path: Path, index: int, count: int) -> None:
    log, _ = make_log(tmp_path)
    with pytest.raises(InvalidBatch):
        await log.store_part(Position(10, 0), index, count, "x")


async def test_retention_deletes_every_part_of_a_parted_event(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    log, _ = make_log(tmp_path, clock, retention_seconds=60)
    big = event(10, body="x" * 5000)
    pieces = parts_of(big, 2000)
    for index, piece in enumerate(pieces):
        await log.store_part(Position(10, 0), index, len(pieces), piece)
    await log.append([stub_of(big, len(pieces)), event(11)])
    assert len([p for p in (tmp_path / "r2").rglob("*") if p.is_file()]) == 3
    clock.now += 61
    assert await log.expire(floor=log.head()) == 2
    assert [p for p in (tmp_path / "r2").rglob("*") if p.is_file()] == []
