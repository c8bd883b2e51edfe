"""What running one operation gives back, whichever way it ran (compiled, or raw SQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Outcome:
    """An operation's result as JSON text, and the models it read and may have written (also as
    their tables: the edge cache tags by table, as change capture and Prisma 7 plans see them)."""

    json: str
    models_read: frozenset[str]
    models_written: frozenset[str]
    tables_read: frozenset[str] = frozenset()
    tables_written: frozenset[str] = frozenset()

    def value(self) -> Any:
        return json.loads(self.json)
