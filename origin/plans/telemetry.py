"""`extensions.logs` for a Prisma 7 response: the client sends `X-Capture-Telemetry: <level>[, query]`
(from its `log` option) and re-emits what comes back as its own log and `query` events."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from .executor import QueryEvent

_LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4}


def _timestamp() -> list[int]:
    now = time.time_ns()
    return [now // 1_000_000_000, now % 1_000_000_000]


def _param_text(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


@dataclass
class Capture:
    """What one request records for the client, as the header asked."""

    min_level: int | None = None
    queries: bool = False
    logs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_header(cls, header: str | None) -> Capture:
        capture = cls()
        for part in (header or "").split(","):
            word = part.strip().lower()
            if word in _LEVELS:
                level = _LEVELS[word]
                capture.min_level = level if capture.min_level is None else min(capture.min_level, level)
            elif word == "query":
                capture.queries = True
        return capture

    def log(self, level: str, message: str, **attributes: Any) -> None:
        if self.min_level is None or _LEVELS[level] < self.min_level:
            return
        self.logs.append(
            {"level": level, "timestamp": _timestamp(), "message": message, "attributes": attributes}
        )

    def query(self, event: QueryEvent) -> None:
        if not self.queries:
            return
        self.logs.append(
            {
                "level": "query",
                "timestamp": _timestamp(),
                "attributes": {
                    "query": event.sql,
                    "params": json.dumps([_param_text(p) for p in event.params], default=str),
                    "duration_ms": round(event.duration_ms, 3),
                },
            }
        )

    @property
    def on_query(self) -> Any:
        return self.query if self.queries else None

    def extensions(self) -> dict[str, Any]:
        return {"logs": self.logs}
