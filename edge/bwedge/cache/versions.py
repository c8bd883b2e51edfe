"""Tag versions: how a tag invalidation reaches every cached entry at once.

The Cache API has no purge by tag and lives per data center, so each database has one TagVersions
Durable Object (strongly consistent, global) holding a version per tag. Versions are folded into the
cache key (client tags, the database-wide `*`) or recorded in the entry and compared on read (model
tags, which are only known once the origin has answered); bumping a version makes every entry that
carries the tag unreachable.

Versions come from one counter per database (`seq`), so "was this tag bumped after I started?" is a
comparison: an entry is only stored if none of its model tags has a version above the `seq` read
before the query went to the origin. The `epoch`, random per Durable Object, is in every key, so
if the object's storage were ever lost no old entry could come back.

Writes inside an interactive transaction are held until the transaction ends: bumping before the
commit would let a concurrent read store pre-commit data under the new version.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..ports import Clock, SqlStorage
from .ports import TagVersionsPort, Versions

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tag_versions (tag TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS held_writes ("
    "tx_id TEXT NOT NULL, tag TEXT NOT NULL, held_at REAL NOT NULL, PRIMARY KEY (tx_id, tag))",
)
_EPOCH = "#epoch"
_SEQ = "#seq"
# Durable Object SQL allows at most 100 bound parameters per statement.
_CHUNK = 90
# Transactions end long before this; a hold older than it belongs to an abandoned transaction.
HOLD_SECONDS = 3600.0


class TagVersionStore:
    """The Durable Object's logic over its SQLite storage (one object per database)."""

    def __init__(self, sql: SqlStorage, clock: Clock) -> None:
        self._sql = sql
        self._clock = clock
        for statement in SCHEMA:
            sql.exec(statement)

    def read(self, tags: Iterable[str]) -> Versions:
        wanted = sorted(set(tags))
        found = self._select([_EPOCH, _SEQ, *wanted])
        if _EPOCH not in found:
            found[_EPOCH] = secrets.randbits(48)
            found[_SEQ] = 0
            self._upsert([(_EPOCH, found[_EPOCH]), (_SEQ, 0)])
        return Versions(found[_EPOCH], found[_SEQ], {t: found.get(t, 0) for t in wanted})

    def bump(self, tags: Iterable[str]) -> Versions:
        wanted = sorted(set(tags))
        current = self.read(())
        seq = current.seq + 1
        # The counter first: if the object stopped between the two writes, a retried bump still
        # gets a number no entry has seen.
        self._upsert([(_SEQ, seq)])
        self._upsert([(tag, seq) for tag in wanted])
        return Versions(current.epoch, seq, dict.fromkeys(wanted, seq))

    def hold(self, tx_id: str, tags: Iterable[str]) -> None:
        now = self._clock()
        self._sql.exec("DELETE FROM held_writes WHERE held_at < ?", now - HOLD_SECONDS)
        for tag in sorted(set(tags)):
            self._sql.exec(
                "INSERT OR IGNORE INTO held_writes (tx_id, tag, held_at) VALUES (?, ?, ?)", tx_id, tag, now
            )

    def release(self, tx_id: str, commit: bool) -> Versions:
        """End a transaction: bump what it wrote if it committed, forget it either way."""
        held = [str(row[0]) for row in self._sql.exec("SELECT tag FROM held_writes WHERE tx_id = ?", tx_id)]
        self._sql.exec("DELETE FROM held_writes WHERE tx_id = ?", tx_id)
        if commit and held:
            return self.bump(held)
        return self.read(())

    def _select(self, tags: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(tags), _CHUNK):
            chunk = tags[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for tag, version in self._sql.exec(
                f"SELECT tag, version FROM tag_versions WHERE tag IN ({marks})", *chunk
            ):
                found[str(tag)] = int(version)
        return found

    def _upsert(self, pairs: list[tuple[str, int]]) -> None:
        for tag, version in pairs:
            self._sql.exec(
                "INSERT INTO tag_versions (tag, version) VALUES (?, ?) "
                "ON CONFLICT (tag) DO UPDATE SET version = excluded.version",
                tag,
                version,
            )


@dataclass
class _Known:
    epoch: int
    seq: int
    until: float  # epoch and seq are reused until then
    tags: dict[str, tuple[int, float]] = field(default_factory=dict)  # tag -> (version, reuse until)


class TagVersionView:
    """Per-isolate cache of tag versions in front of the Durable Objects.

    Answers may be up to `ttl` seconds old for invalidations made elsewhere; whatever passes
    through this isolate (an invalidation, a write's bump) is applied here at once.
    """

    def __init__(self, port: TagVersionsPort, clock: Clock, ttl: float, max_entries: int = 10_000) -> None:
        self._port = port
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._known: dict[str, _Known] = {}

    def fresh(self, database_id: str, tags: Iterable[str]) -> Versions | None:
        """`read`'s answer when this isolate knows every tag within `ttl`, without a coroutine (the hit
        path); None when it must ask the Durable Object."""
        known = self._known.get(database_id)
        now = self._clock()
        if known is None or known.until <= now:
            return None
        found: dict[str, int] = {}
        for tag in tags:
            entry = known.tags.get(tag)
            if entry is None or entry[1] <= now:
                return None
            found[tag] = entry[0]
        return Versions(known.epoch, known.seq, found)

    def unchanged(self, database_id: str, versions: Mapping[str, int]) -> bool | None:
        """Whether every tag is still at its version in `versions` (an entry's models), as `fresh`
        would tell, without building its answer (the hit path); None when it must ask the Durable
        Object. No tags: True."""
        if not versions:
            return True
        known = self._known.get(database_id)
        now = self._clock()
        if known is None or known.until <= now:
            return None
        unchanged = True
        for tag, version in versions.items():
            entry = known.tags.get(tag)
            if entry is None or entry[1] <= now:
                return None
            if entry[0] != version:
                unchanged = False
        return unchanged

    async def read(self, database_id: str, tags: list[str]) -> Versions:
        now = self._clock()
        known = self._known.get(database_id)
        if known is not None and known.until > now:
            missing = [t for t in tags if t not in known.tags or known.tags[t][1] <= now]
        else:
            missing = list(tags)
        if known is None or known.until <= now or missing:
            known = self._learn(database_id, await self._port.read(database_id, missing), now)
        return Versions(known.epoch, known.seq, {t: known.tags[t][0] for t in tags})

    async def bump(self, database_id: str, tags: list[str]) -> Versions:
        bumped = await self._port.bump(database_id, tags)
        self._learn(database_id, bumped, self._clock())
        return bumped

    async def hold(self, database_id: str, tx_id: str, tags: list[str]) -> None:
        await self._port.hold(database_id, tx_id, tags)

    async def release(self, database_id: str, tx_id: str, commit: bool) -> Versions:
        released = await self._port.release(database_id, tx_id, commit)
        self._learn(database_id, released, self._clock())
        return released

    def forget(self) -> None:
        self._known.clear()

    def _learn(self, database_id: str, versions: Versions, now: float) -> _Known:
        known = self._known.get(database_id)
        if known is None or known.epoch != versions.epoch or len(known.tags) >= self._max_entries:
            if len(self._known) >= self._max_entries:
                self._known.clear()
            known = _Known(versions.epoch, versions.seq, now + self._ttl)
            self._known[database_id] = known
        known.seq = max(known.seq, versions.seq)
        known.until = now + self._ttl
        until = now + self._ttl
        for tag, version in versions.tags.items():
            known.tags[tag] = (version, until)
        return known
