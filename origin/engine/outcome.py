"""What running one operation gives back, whichever way it ran (compiled, or raw SQL)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def shape_id(text: str) -> str:
    """A short, stable id of a query's shape (its text without values): 16 hex digits."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(slots=True)
class Outcome:
    """An operation's result as JSON text, and the models it read and may have written (also as
    their tables: the edge cache tags by table, as change capture and Prisma 7 plans see them)."""

    json: str
    models_read: frozenset[str]
    models_written: frozenset[str]
    tables_read: frozenset[str] = frozenset()
    tables_written: frozenset[str] = frozenset()
    shape: str | None = None  # shape_id of the operation's shape (no values), for observations
    rows: int | None = None  # rows it returned or changed, when known without counting a result
    sql: str | None = None  # a one-statement read's SQL ($n placeholders, no values), for insights

    def value(self) -> Any:
        return json.loads(self.json)
