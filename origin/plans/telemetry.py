"""`extensions` of a response: the client sends `X-Capture-Telemetry: <level>[, query][, tracing]`
(from its `log` option, and `tracing` when OpenTelemetry instrumentation is on) and re-emits what
comes back as its own log and `query` events (`logs`) and, for Prisma 6, its engine's spans
(`traces`: the request as `prisma:engine:query`, each statement as `prisma:engine:db_query` in it)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .executor import QueryEvent

_LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4}


def _timestamp() -> list[int]:
    now = time.time_ns()
    return [now // 1_000_000_000, now % 1_000_000_000]


def _hrtime(ns: int) -> list[int]:
    return [ns // 1_000_000_000, ns % 1_000_000_000]


def _param_text(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


@dataclass
class Capture:
    """What one request records for the client, as the header asked."""

    min_level: int | None = None
    queries: bool = False
    tracing: bool = False
    logs: list[dict[str, Any]] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    started_ns: int = field(default_factory=time.time_ns)
    root_id: str = field(default_factory=lambda: secrets.token_hex(8))

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
            elif word == "tracing":
                capture.tracing = True
        return capture

    def log(self, level: str, message: str, **attributes: Any) -> None:
        if self.min_level is None or _LEVELS[level] < self.min_level:
            return
        self.logs.append(
            {"level": level, "timestamp": _timestamp(), "message": message, "attributes": attributes}
        )

    def query(self, event: QueryEvent) -> None:
        if self.tracing:
            end = time.time_ns()
            start = end - int(event.duration_ms * 1_000_000)
            self.spans.append(
                {
                    "id": secrets.token_hex(8),
                    "parentId": self.root_id,
                    "name": "prisma:engine:db_query",
                    "startTime": _hrtime(start),
                    "endTime": _hrtime(end),
                    "kind": "client",
                    "attributes": {"db.system": "postgresql", "db.query.text": event.sql},
                }
            )
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
        return self.query if self.queries or self.tracing else None

    def extensions(self) -> dict[str, Any]:
        return {"logs": self.logs}

    def traces(self) -> list[dict[str, Any]]:
        """The engine spans of the request (Prisma 6's `extensions.traces`): a root the client
        places under its own request span, with the statements in it."""
        if not self.tracing:
            return []
        root: dict[str, Any] = {
            "id": self.root_id,
            "parentId": None,
            "name": "prisma:engine:query",
            "startTime": _hrtime(self.started_ns),
            "endTime": _hrtime(time.time_ns()),
            "kind": "internal",
            "attributes": {},
        }
        return [root, *self.spans]
