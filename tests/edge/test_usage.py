"""Cache hits counted per isolate and reported in batches (bwedge/usage.py), and the journal that keeps
them across a crash (bwservice/journal.py): a batch is forgotten only once the origin counted it, and
a batch sent again carries the same id."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bwcontract.usage import HIT, SHARED, STALE, HitBatch, HitCount, InvalidUsage
from bwedge.usage import HitMeter, MemoryJournal
from bwservice.journal import Journal, JournalBusy


class Origin:
    """Counts batches once per id, as the origin's ledger does; fails when told to."""

    def __init__(self) -> None:
        self.received: list[HitBatch] = []
        self.counted: dict[str, HitBatch] = {}
        self.fail_after_count = False

    async def send(self, batch: HitBatch) -> None:
        self.received.append(batch)
        self.counted.setdefault(batch.id, batch)
        if self.fail_after_count:
            raise ConnectionError("the answer was lost")

    def hits(self) -> int:
        return sum(c.count for b in self.counted.values() for c in b.counts)


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_hits_are_batched_and_a_lost_answer_sends_the_same_batch_again() -> None:
    origin, clock = Origin(), Clock()
    meter = HitMeter(MemoryJournal(), origin.send, clock, flush_seconds=2, batch_hits=1000, retry_seconds=5)
    for _ in range(3):
        meter.record("db1", HIT, 100, "shape1")
    meter.record("db1", STALE, 50, "shape1")
    meter.record("db2", SHARED, 10, None)
    assert not meter.due()  # neither old nor many enough yet
    clock.now += 2
    assert meter.due()
    origin.fail_after_count = True
    assert await meter.flush() == 0
    assert not meter.due()  # a failed delivery waits `retry_seconds`
    clock.now += 5
    assert meter.due()
    origin.fail_after_count = False
    assert await meter.flush() == 1
    first, again = origin.received
    assert first.id == again.id and first.counts == again.counts  # the same batch, once counted
    assert origin.hits() == 5
    assert sorted(first.counts, key=lambda c: (c.database_id, c.kind)) == [
        HitCount("db1", "2026-05-28", HIT, "shape1", 3, 300),
        HitCount("db1", "2026-05-28", STALE, "shape1", 1, 50),
        HitCount("db2", "2026-05-28", SHARED, "", 1, 10),
    ]
    assert await meter.flush() == 0 and not meter.due()  # nothing left


async def test_many_hits_make_a_flush_due_at_once() -> None:
    origin = Origin()
    meter = HitMeter(MemoryJournal(), origin.send, Clock(), flush_seconds=60, batch_hits=10)
    for _ in range(10):
        meter.record("db1", HIT, 1, None)
    assert meter.due()
    await meter.flush()
    assert origin.hits() == 10 and len(origin.received) == 1


async def test_a_journal_on_disk_delivers_after_a_crash_what_was_counted_or_not(tmp_path: Path) -> None:
    origin = Origin()
    journal = Journal(tmp_path / "usage")
    meter = HitMeter(journal, origin.send, Clock())
    meter.record("db1", HIT, 7, None)
    await meter.flush()  # delivered and forgotten
    meter.record("db1", HIT, 7, None)
    meter.write()
    journal.seal()  # a flush that was cut short after "counted" and before "forgotten"…
    (segment,) = journal.sealed()
    await origin.send(HitBatch(segment, (HitCount("db1", "2026-05-28", HIT, "", 1, 7),)))
    meter.record("db1", HIT, 7, None)  # …and one more hit, written to the open segment…
    meter.write()
    meter.record("db1", HIT, 7, None)  # …and one summed in memory only, which the crash loses
    journal.close()
    # A new process on the same folder: the open segment is sealed as it stands, both are delivered.
    reopened = Journal(tmp_path / "usage")
    restarted = HitMeter(reopened, origin.send, Clock())
    assert restarted.due()
    assert await restarted.flush() == 2
    assert origin.hits() == 3 and not reopened.sealed()


async def test_hits_are_summed_in_memory_and_written_as_one_line_per_sum(tmp_path: Path) -> None:
    origin, clock = Origin(), Clock()
    journal = Journal(tmp_path / "usage")
    meter = HitMeter(journal, origin.send, clock, write_seconds=0.01)
    for _ in range(500):
        meter.record("db1", HIT, 10, "shape1")
    meter.record("db2", STALE, 3, None)
    assert journal.records == 0  # nothing written on a hit's path…
    await asyncio.sleep(0.05)
    assert journal.records == 2  # …the timer wrote one line per sum
    meter.record("db1", HIT, 10, "shape1")
    clock.now += 86400  # the next UTC day's hits are a sum of their own: the day's go out first
    meter.record("db1", HIT, 10, "shape1")
    assert journal.records == 3
    meter.record("db1", HIT, 10, "shape1")
    assert await meter.flush() == 1  # a flush writes what is left first
    (batch,) = origin.received
    assert sorted(batch.counts, key=lambda c: (c.day, c.database_id)) == [
        HitCount("db1", "2026-05-28", HIT, "shape1", 501, 5010),
        HitCount("db2", "2026-05-28", STALE, "", 1, 3),
        HitCount("db1", "2026-05-29", HIT, "shape1", 2, 20),
    ]


async def test_a_journal_left_with_one_line_per_hit_is_still_counted(tmp_path: Path) -> None:
    # Before hits were summed in memory a line was one answer; a process that crashed then left them.
    journal = Journal(tmp_path / "usage")
    journal.append_many([b"db1\t2026-05-28\thit\ts1\t7", b"db1\t2026-05-28\thit\ts1\t5", b"bad line"])
    journal.close()
    origin = Origin()
    restarted = HitMeter(Journal(tmp_path / "usage"), origin.send, Clock())
    assert restarted.due() and await restarted.flush() == 1
    assert origin.received[0].counts == (HitCount("db1", "2026-05-28", HIT, "s1", 2, 12),)


def test_a_killed_writer_loses_no_record_it_appended(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    script = (
        "import os, sys; from pathlib import Path; from bwservice.journal import Journal\n"
        "j = Journal(Path(sys.argv[1]))\n"
        "for i in range(500): j.append(str(i).encode())\n"
        "print('written', flush=True); os.kill(os.getpid(), 9)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "edge"), str(root)])}
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, env=env, check=False
    )
    assert done.returncode == -9 and b"written" in done.stdout
    journal = Journal(folder)
    (segment,) = journal.sealed()
    assert journal.read(segment) == [str(i).encode() for i in range(500)]
    with pytest.raises(JournalBusy):
        Journal(folder)  # one process per folder
    journal.close()


def test_hit_batches_from_the_wire_are_checked() -> None:
    batch = HitBatch("0001-ab", (HitCount("db1", "2026-05-28", HIT, "s", 2, 20),))
    assert HitBatch.from_json(batch.to_json()) == batch
    for bad in (
        b"{}",
        b'{"id": "a b", "counts": []}',
        b'{"id": "x", "counts": [["db1", "2026-05-28", "miss", "", 1, 1]]}',
        b'{"id": "x", "counts": [["db1", "2026-05-28", "hit", "", -1, 1]]}',
        b'{"id": "x", "counts": [["db;drop", "2026-05-28", "hit", "", 1, 1]]}',
    ):
        with pytest.raises(InvalidUsage):
            HitBatch.from_json(bad)
