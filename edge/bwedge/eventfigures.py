"""What the console shows of an event queue: its head and size, and each consumer's lag.

Named streams (connected or not) and unnamed connections, with the events they have not acknowledged
and how long the oldest of those has waited. Read from the queue's storage (`sockets` and `streams`
rows, the log), so it needs nothing of the object's memory.
"""

from __future__ import annotations

import json
from typing import Any

from bwcontract.offsets import ZERO

from . import cursors
from .cursors import Cursor
from .eventlog import EventLog
from .ports import SqlStorage


def queue_figures(sql: SqlStorage, log: EventLog, now: float) -> dict[str, Any]:
    # A connected named stream's live cursor is its socket's (the stream row keeps the acked part).
    consumers = [
        _lag(log, str(name), Cursor.from_json(json.loads(live or saved)), live is not None, now)
        for name, saved, live in sql.exec(
            "SELECT s.name, s.cursor, k.cursor FROM streams s LEFT JOIN sockets k ON k.id = s.socket"
            " ORDER BY s.name"
        )
    ]
    consumers += [
        _lag(log, None, Cursor.from_json(json.loads(state)), True, now)
        for (state,) in sql.exec("SELECT cursor FROM sockets WHERE stream IS NULL ORDER BY id")
    ]
    oldest = log.oldest()
    return {
        "head": log.head().offset,
        "events": log.count_after(ZERO),
        "oldest": oldest.offset if oldest is not None else None,
        "streams": consumers,
    }


def _lag(log: EventLog, name: str | None, cursor: Cursor, connected: bool, now: float) -> dict[str, Any]:
    waiting_since = log.stored_at_after(cursor.acked)
    return {
        "name": name,
        "connected": connected,
        "acked": cursor.acked.offset,
        "behind": log.count_after(cursor.acked),
        "in_flight": len(cursor.inflight),
        "oldest_unacked_seconds": round(now - waiting_since, 3) if waiting_since is not None else None,
        "idle_seconds": round(cursors.idle_for(cursor, now), 3),
    }
