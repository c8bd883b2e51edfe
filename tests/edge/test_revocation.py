from __future__ import annotations

import sqlite3
from typing import Any

from bwedge.revocation import RevocationStore, RevocationView


class MemorySql:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")

    def exec(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, params).fetchall()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingPort:
    def __init__(self, store: RevocationStore) -> None:
        self.store = store
        self.calls = 0

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        self.calls += 1
        return self.store.is_revoked(key_id, database_id)

    async def revoke(self, key_ids: list[str], database_ids: list[str]) -> None:
        self.store.revoke(key_ids, database_ids)


def test_the_store_remembers_revoked_keys_and_databases() -> None:
    store = RevocationStore(MemorySql(), Clock())
    store.revoke(["k1"], ["d9"])
    assert store.is_revoked("k1", "d1")
    assert store.is_revoked("k2", "d9")
    assert not store.is_revoked("k2", "d1")


async def test_an_isolate_caches_answers_for_the_ttl_only() -> None:
    clock = Clock()
    port = CountingPort(RevocationStore(MemorySql(), clock))
    view = RevocationView(port, clock, ttl=5)
    assert not await view.is_revoked("k1", "d1")
    port.store.revoke(["k1"], [])  # revoked elsewhere: this isolate has not heard yet
    assert not await view.is_revoked("k1", "d1")
    assert port.calls == 1
    clock.now += 5.01
    assert await view.is_revoked("k1", "d1")
    assert port.calls == 2


async def test_revoking_through_an_isolate_takes_effect_there_at_once() -> None:
    clock = Clock()
    view = RevocationView(CountingPort(RevocationStore(MemorySql(), clock)), clock, ttl=60)
    assert not await view.is_revoked("k1", "d1")
    await view.revoke(["k1"], [])
    assert await view.is_revoked("k1", "d1")
