"""Durable Objects on the host: one instance per name, its calls serialized like an input gate."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Generic, TypeVar

from bwcontract.usage import PlanLimit
from bwedge.cache.ports import Versions
from bwedge.cache.versions import TagVersionStore
from bwedge.planlimits import PlanLimitStore
from bwedge.revocation import RevocationStore

from .storage import SqliteStorage, object_path

T = TypeVar("T")


class LocalNamespace(Generic[T]):
    def __init__(self, name: str, state_dir: Path | None, factory: Callable[[SqliteStorage], T]) -> None:
        self._name = name
        self._state_dir = state_dir
        self._factory = factory
        self._objects: dict[str, tuple[T, asyncio.Lock, SqliteStorage]] = {}

    @contextlib.asynccontextmanager
    async def call(self, name: str) -> AsyncIterator[T]:
        """One call into the object named `name`: one at a time (its input gate), its writes
        coalesced into one commit."""
        found = self._objects.get(name)
        if found is None:
            storage = SqliteStorage(object_path(self._state_dir, self._name, name))
            found = (self._factory(storage), asyncio.Lock(), storage)
            self._objects[name] = found
        store, lock, storage = found
        async with lock:
            with storage.coalesced():
                yield store


class LocalRevocations:
    """The `Revocations` Durable Object, called as the Worker calls it over RPC."""

    def __init__(self, state_dir: Path | None) -> None:
        self._namespace = LocalNamespace(
            "Revocations", state_dir, lambda storage: RevocationStore(storage, time.time)
        )

    async def is_revoked(self, key_id: str, database_id: str) -> bool:
        async with self._namespace.call("global") as store:
            return store.is_revoked(key_id, database_id)

    async def revoke(self, key_ids: list[str], database_ids: list[str]) -> None:
        async with self._namespace.call("global") as store:
            store.revoke(key_ids, database_ids)


class LocalPlanLimits:
    """The `PlanLimits` Durable Object, called as the Worker calls it over RPC."""

    def __init__(self, state_dir: Path | None) -> None:
        self._namespace = LocalNamespace(
            "PlanLimits", state_dir, lambda storage: PlanLimitStore(storage, time.time)
        )

    async def get(self, database_id: str) -> PlanLimit:
        async with self._namespace.call("global") as store:
            return store.get(database_id)

    async def apply(self, limits: list[PlanLimit]) -> None:
        async with self._namespace.call("global") as store:
            store.apply(limits)


class LocalTagVersions:
    """The `TagVersions` Durable Objects (one per database), called as the Worker calls them."""

    def __init__(self, state_dir: Path | None, clock: Callable[[], float] = time.time) -> None:
        self._namespace = LocalNamespace(
            "TagVersions", state_dir, lambda storage: TagVersionStore(storage, clock)
        )

    async def read(self, database_id: str, tags: list[str]) -> Versions:
        async with self._namespace.call(database_id) as store:
            return store.read(tags)

    async def bump(self, database_id: str, tags: list[str]) -> Versions:
        async with self._namespace.call(database_id) as store:
            return store.bump(tags)

    async def hold(self, database_id: str, tx_id: str, tags: list[str]) -> None:
        async with self._namespace.call(database_id) as store:
            store.hold(tx_id, tags)

    async def release(self, database_id: str, tx_id: str, commit: bool) -> Versions:
        async with self._namespace.call(database_id) as store:
            return store.release(tx_id, commit)
