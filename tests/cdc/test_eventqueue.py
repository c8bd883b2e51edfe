"""The EventQueue object's logic: serving sockets with windows and acks, named streams, tiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bwcontract.offsets import Position
from bwedge.eventlog import InvalidBatch, LogLimits
from bwedge.eventqueue import CLOSE_REPLACED, CLOSE_REVOKED, EventQueue, QueueSettings
from bwedge.subscription import Subscription
from edge_local.events import FileBlobStore
from edge_local.storage import SqliteStorage
from tests.cdc.helpers import Clock, FakeSockets, batch, event


class Harness:
    def __init__(self, tmp_path: Path, **settings: object) -> None:
        self.sockets = FakeSockets()
        self.clock = Clock()
        self.alarms: list[float] = []
        self.path = tmp_path
        self.settings = QueueSettings(**settings)  # type: ignore[arg-type]
        self.queue = self.restart()

    def restart(self) -> EventQueue:
        """A new object over the same storage, as after hibernation or an edge restart."""

        async def schedule(at: float) -> None:
            self.alarms.append(at)

        self.queue = EventQueue(
            "db1",
            SqliteStorage(self.path / "do.sqlite"),
            FileBlobStore(self.path / "r2"),
            self.sockets,
            self.clock,
            self.settings,
            schedule,
        )
        return self.queue

    async def connect(self, socket_id: str, key_id: str = "", **wanted: object) -> None:
        self.sockets.connect(socket_id)
        await self.queue.open(socket_id, Subscription(**wanted), key_id)  # type: ignore[arg-type]

    async def ack(self, socket_id: str, lsn: int) -> None:
        await self.queue.message(socket_id, json.dumps({"type": "ack", "offset": Position(lsn, 0).offset}))


def o(*lsns: int) -> list[str]:
    return [Position(n, 0).offset for n in lsns]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_a_consumer_is_greeted_then_gets_new_events_as_they_are_stored(h: Harness) -> None:
    await h.queue.append(batch(event(1)))
    await h.connect("s1")
    answer = await h.queue.append(batch(event(2), event(3, model="Post")))
    socket = h.sockets.open["s1"]
    assert socket.frames[0] == {"type": "ready", "stream": None, "after": o(1)[0], "head": o(1)[0]}
    assert socket.offsets() == o(2, 3)
    assert answer == {"stored": 2, "duplicates": 0, "head": o(3)[0], "models": ["Post", "User"]}


async def test_only_matching_models_actions_and_records_are_delivered(h: Harness) -> None:
    await h.connect("s1", models=("User",), actions=("create", "update"), where={"id": {"gte": 3}})
    await h.queue.append(
        batch(
            event(1),
            event(2, model="Post"),
            event(3),
            event(4, action="delete"),
            event(5, action="update"),
            event(6, action="update", id=2),
        )
    )
    assert h.sockets.open["s1"].offsets() == o(3, 5)


async def test_the_window_holds_back_events_until_the_consumer_acknowledges(h: Harness) -> None:
    await h.connect("s1", window=2)
    await h.queue.append(batch(*(event(n) for n in range(1, 6))))
    socket = h.sockets.open["s1"]
    assert socket.offsets() == o(1, 2)
    await h.ack("s1", 1)
    assert socket.offsets() == o(1, 2, 3)
    await h.ack("s1", 3)
    assert socket.offsets() == o(1, 2, 3, 4, 5)


async def test_a_named_stream_resumes_after_its_last_ack_and_redelivers_the_rest(h: Harness) -> None:
    await h.connect("a", name="sync", offset="earliest")
    await h.queue.append(batch(event(1), event(2), event(3)))
    await h.ack("a", 1)
    await h.queue.closed("a")
    del h.sockets.open["a"]
    await h.queue.append(batch(event(4)))
    h.restart()  # the object was evicted meanwhile: everything comes back from storage
    await h.connect("b", name="sync", offset="latest")
    socket = h.sockets.open["b"]
    assert socket.frames[0]["after"] == o(1)[0]
    assert socket.offsets() == o(2, 3, 4)


async def test_a_second_consumer_of_a_name_replaces_the_first(h: Harness) -> None:
    await h.connect("a", name="sync")
    await h.connect("b", name="sync")
    assert h.sockets.open["a"].closed_with == (CLOSE_REPLACED, "another consumer connected to this stream")
    await h.queue.append(batch(event(1)))
    assert h.sockets.open["a"].offsets() == [] and h.sockets.open["b"].offsets() == o(1)


async def test_an_unnamed_stream_can_start_after_any_offset(h: Harness) -> None:
    await h.queue.append(batch(event(1), event(2), event(3)))
    await h.connect("s1", offset=o(1)[0])
    assert h.sockets.open["s1"].offsets() == o(2, 3)


async def test_an_event_larger_than_a_frame_arrives_in_parts(tmp_path: Path) -> None:
    h = Harness(tmp_path, frame_bytes=1000, limits=LogLimits(inline_limit=1500))
    await h.connect("s1")
    await h.queue.append(batch(event(1), event(2, body="q" * 4000), event(3)))
    socket = h.sockets.open["s1"]
    assert [f["type"] for f in socket.frames] == ["ready", "events"] + ["part"] * 5 + ["events"]
    assert socket.offsets() == o(1, 2, 3)


async def test_bad_acks_get_an_error_frame_and_change_nothing(h: Harness) -> None:
    await h.connect("s1")
    await h.queue.message("s1", "not json")
    await h.queue.message("s1", json.dumps({"type": "ack", "offset": o(99)[0]}))
    assert [f.get("code") for f in h.sockets.open["s1"].frames[1:]] == ["BW1003", "BW1003"]


async def test_a_malformed_batch_is_refused(h: Harness) -> None:
    with pytest.raises(InvalidBatch):
        await h.queue.append('{"events": 3}')
    with pytest.raises(InvalidBatch):
        await h.queue.append("[]")


async def test_maintenance_tiers_and_expires_but_keeps_what_a_named_stream_owes(tmp_path: Path) -> None:
    h = Harness(tmp_path, limits=LogLimits(hot_events=2, segment_events=2, retention_seconds=10))
    await h.connect("a", name="slow", offset="earliest", window=1)
    await h.queue.append(batch(*(event(n) for n in range(1, 7))))
    assert h.alarms  # maintenance was scheduled by the append
    await h.ack("a", 1)
    h.clock.now += 11
    result = await h.queue.alarm()
    # Event 1 is acknowledged and old: gone. Event 2 is in flight, so it and all after it stay.
    assert result == {"expired": 1, "segments": 2, "streams_dropped": 0}
    await h.queue.closed("a")
    h.clock.now += QueueSettings().stream_ttl_seconds + 1
    # The stream was idle past its time to live: dropped, and nothing holds the old events back.
    assert await h.queue.alarm() == {"expired": 5, "segments": 0, "streams_dropped": 1}


async def test_revoking_a_key_closes_its_sockets_and_turns_it_away_afterwards(h: Harness) -> None:
    await h.connect("a", key_id="k1")
    await h.connect("b", key_id="k2", name="kept")
    assert await h.queue.revoke(["k1"]) == 1
    assert h.sockets.open["a"].closed_with == (CLOSE_REVOKED, "the API key has been revoked")
    await h.queue.append(batch(event(1)))
    assert h.sockets.open["a"].offsets() == [] and h.sockets.open["b"].offsets() == o(1)
    # An isolate that authenticated k1 before it heard of the revocation still cannot open a stream.
    await h.connect("c", key_id="k1")
    assert h.sockets.open["c"].closed_with is not None and h.sockets.open["c"].frames == []
    h.restart()  # the revocation is kept in storage, as the object may hibernate
    await h.connect("d", key_id="k1")
    assert h.sockets.open["d"].closed_with == (CLOSE_REVOKED, "the API key has been revoked")


async def test_deleting_the_database_closes_every_socket(h: Harness) -> None:
    await h.connect("a", key_id="k1")
    await h.connect("b", key_id="k2")
    assert await h.queue.revoke([], everything=True) == 2
    assert {s.closed_with for s in h.sockets.open.values()} == {
        (CLOSE_REVOKED, "the API key has been revoked")
    }
    await h.connect("c", key_id="k3")
    assert h.sockets.open["c"].closed_with is not None
