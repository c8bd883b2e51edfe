"""Durable Object SQLite storage on the host: one database file per object, as in Cloudflare."""

from __future__ import annotations

import hashlib
import sqlite3
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

    def close(self) -> None:
        self._db.close()


def object_path(state_dir: Path | None, namespace: str, name: str) -> Path | None:
    if state_dir is None:
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return state_dir / "durable-objects" / namespace / f"{digest}.sqlite"
