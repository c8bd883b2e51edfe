"""Durable Object SQLite storage on the host: one database file per object, as in Cloudflare."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SqliteStorage:
    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def exec(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def exec_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement for each row, in one call (the event log's appends use it when present)."""
        self._db.executemany(sql, rows)

    @contextlib.contextmanager
    def coalesced(self) -> Iterator[None]:
        """One call into the object: its writes committed together when it ends, as a Durable Object
        coalesces the writes of a handler (one SQLite transaction, not one per statement: a commit
        each is ~10x the cost of the write). Committed on an error too: a Durable Object keeps what
        a failing handler wrote before it failed."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def object_path(state_dir: Path | None, namespace: str, name: str) -> Path | None:
    if state_dir is None:
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return state_dir / "durable-objects" / namespace / f"{digest}.sqlite"
