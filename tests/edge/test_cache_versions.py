"""Tag versions: the TagVersions Durable Object's logic over SQLite, and the isolate's view of it."""

from __future__ import annotations

from bwedge.cache.ports import Versions
from bwedge.cache.versions import HOLD_SECONDS, TagVersionStore, TagVersionView
from edge_local.durable import LocalTagVersions
from edge_local.storage import SqliteStorage
from tests.edge.test_revocation import Clock, MemorySql


def test_unknown_tags_are_at_version_zero_and_bumps_count_up_per_database() -> None:
    store = TagVersionStore(MemorySql(), Clock())
    first = store.read(["t:a", "m:Post"])
    assert (first.seq, first.tags) == (0, {"m:Post": 0, "t:a": 0})
    assert store.bump(["t:a", "t:a"]) == Versions(first.epoch, 1, {"t:a": 1})
    assert store.bump(["m:Post", "*"]) == Versions(first.epoch, 2, {"*": 2, "m:Post": 2})
    assert store.read(["t:a", "m:Post", "*", "t:b"]) == Versions(
        first.epoch, 2, {"*": 2, "m:Post": 2, "t:a": 1, "t:b": 0}
    )


def test_the_epoch_is_random_per_object_and_survives_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "do.sqlite"
    epoch = TagVersionStore(SqliteStorage(path), Clock()).read([]).epoch
    again = TagVersionStore(SqliteStorage(path), Clock())
    assert again.read([]).epoch == epoch
    assert TagVersionStore(MemorySql(), Clock()).read([]).epoch != epoch


def test_many_tags_are_read_in_chunks_the_storage_accepts() -> None:
    store = TagVersionStore(MemorySql(), Clock())
    names = [f"t:{i}" for i in range(250)]
    store.bump(names[::2])
    read = store.read(names)
    assert [read.tags[n] for n in names[:4]] == [1, 0, 1, 0] and len(read.tags) == 250


def test_held_writes_are_bumped_on_commit_and_forgotten_on_rollback() -> None:
    clock = Clock()
    store = TagVersionStore(MemorySql(), clock)
    store.hold("tx1", ["m:Post"])
    store.hold("tx1", ["m:Post", "m:User"])
    store.hold("tx2", ["m:Tag"])
    assert store.read(["m:Post"]).tags == {"m:Post": 0}
    assert store.release("tx1", commit=True).tags == {"m:Post": 1, "m:User": 1}
    assert store.release("tx1", commit=True).tags == {}  # released once only
    store.release("tx2", commit=False)
    assert store.read(["m:Tag"]).tags == {"m:Tag": 0}


def test_holds_of_abandoned_transactions_expire() -> None:
    clock = Clock()
    store = TagVersionStore(MemorySql(), clock)
    store.hold("old", ["m:Post"])
    clock.now += HOLD_SECONDS + 1
    store.hold("new", ["m:User"])
    assert store.release("old", commit=True).tags == {}


class CountingVersions(LocalTagVersions):
    def __init__(self, clock: Clock) -> None:
        super().__init__(None, clock)
        self.reads: list[list[str]] = []

    async def read(self, database_id: str, tags: list[str]) -> Versions:
        self.reads.append(tags)
        return await super().read(database_id, tags)


async def test_the_view_reuses_versions_for_its_ttl_and_asks_only_for_what_it_lacks() -> None:
    clock = Clock()
    port = CountingVersions(clock)
    view = TagVersionView(port, clock, ttl=1.0)
    assert (await view.read("db1", ["*", "t:a"])).tags == {"*": 0, "t:a": 0}
    assert (await view.read("db1", ["*", "t:a", "m:Post"])).tags == {"*": 0, "t:a": 0, "m:Post": 0}
    assert port.reads == [["*", "t:a"], ["m:Post"]]
    await port.bump("db1", ["t:a"])  # elsewhere
    assert (await view.read("db1", ["t:a"])).tags == {"t:a": 0}
    clock.now += 1.0
    assert (await view.read("db1", ["t:a"])) == Versions((await port.read("db1", [])).epoch, 1, {"t:a": 1})


async def test_a_bump_through_the_view_is_seen_by_it_at_once() -> None:
    clock = Clock()
    view = TagVersionView(LocalTagVersions(None, clock), clock, ttl=60)
    await view.read("db1", ["m:Post"])
    await view.bump("db1", ["m:Post"])
    assert (await view.read("db1", ["m:Post"])).tags == {"m:Post": 1}
    await view.hold("db1", "tx", ["m:User"])
    await view.release("db1", "tx", commit=True)
    assert (await view.read("db1", ["m:User", "m:Post"])).tags == {"m:User": 2, "m:Post": 1}


async def test_unchanged_tells_what_fresh_would_without_asking() -> None:
    clock = Clock()
    port = CountingVersions(clock)
    view = TagVersionView(port, clock, ttl=1.0)
    assert view.unchanged("db1", {}) is True  # an entry with no models: nothing to compare
    assert view.unchanged("db1", {"m:Post": 0}) is None  # nothing known of db1
    await view.read("db1", ["m:Post"])
    assert view.unchanged("db1", {"m:Post": 0}) is True
    assert view.unchanged("db1", {"m:Post": 0, "m:User": 0}) is None  # m:User never asked
    await view.bump("db1", ["m:Post"])
    assert view.unchanged("db1", {"m:Post": 0}) is False
    assert view.unchanged("db1", {"m:Post": 1}) is True
    # Unknown beats changed, as `fresh` answers None for the whole set: the object is asked.
    assert view.unchanged("db1", {"m:Post": 0, "m:User": 0}) is None
    clock.now += 1.0
    assert view.unchanged("db1", {"m:Post": 1}) is None  # past the ttl
    assert len(port.reads) == 1


async def test_a_zero_ttl_view_always_asks_the_object() -> None:
    clock = Clock()
    port = CountingVersions(clock)
    view = TagVersionView(port, clock, ttl=0)
    for _ in range(3):
        await view.read("db1", ["*"])
    assert len(port.reads) == 3


async def test_databases_have_separate_versions() -> None:
    versions = LocalTagVersions(None, Clock())
    await versions.bump("db1", ["*"])
    assert (await versions.read("db2", ["*"])).tags == {"*": 0}
    assert (await versions.read("db1", ["*"])).epoch != (await versions.read("db2", ["*"])).epoch


def test_versions_cross_the_rpc_boundary_as_json() -> None:
    versions = Versions(2**47, 9, {"t:a": 3})
    assert Versions.from_json(versions.to_json()) == versions
