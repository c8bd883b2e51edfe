"""A consumer's place in the event log, and acknowledgement, as pure functions over a small value.

Step by step, for one connection:
1. `start(at)` or, for a named stream reconnecting, `resume(saved)`: nothing is in flight, so the
   stream continues right after the last acknowledged event (what was sent and not acknowledged
   before is sent again: at least once).
2. `room(cursor, window)`: how many more events may be sent before the consumer acknowledges.
3. `sent(cursor, positions, scanned_to)`: events up to `scanned_to` were looked at; `positions`
   went out. Scanned events that did not match the subscription need no acknowledgement.
4. `ack(cursor, position)`: cumulative — everything up to `position` is done. With nothing left in
   flight the cursor jumps to everything scanned, so a selective filter does not hold back retention.
The clock is passed in (`now`): it records when a stream was last active, for idle-stream expiry.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any

from bwcontract.offsets import Position


class AckError(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    acked: Position  # every event at or before this is done
    scanned: Position  # every event at or before this was sent, or did not match
    inflight: tuple[Position, ...] = ()  # sent after `acked`, ascending, not yet acknowledged
    active_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "acked": self.acked.offset,
            "scanned": self.scanned.offset,
            "inflight": [p.offset for p in self.inflight],
            "activeAt": self.active_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        return cls(
            acked=Position.parse(data["acked"]),
            scanned=Position.parse(data["scanned"]),
            inflight=tuple(Position.parse(p) for p in data.get("inflight", [])),
            active_at=float(data.get("activeAt", 0.0)),
        )


def start(at: Position, now: float) -> Cursor:
    return Cursor(acked=at, scanned=at, inflight=(), active_at=now)


def resume(saved: Cursor, now: float) -> Cursor:
    """A new connection of a named stream: redeliver everything after the last acknowledgement."""
    return Cursor(acked=saved.acked, scanned=saved.acked, inflight=(), active_at=now)


def room(cursor: Cursor, window: int) -> int:
    return max(0, window - len(cursor.inflight))


def sent(cursor: Cursor, positions: list[Position], scanned_to: Position, now: float) -> Cursor:
    if scanned_to < cursor.scanned or any(p <= cursor.scanned or p > scanned_to for p in positions):
        raise AckError("sent events must lie after the cursor and within what was scanned")
    inflight = cursor.inflight + tuple(positions)
    acked = cursor.acked if inflight else scanned_to
    return replace(cursor, acked=acked, scanned=scanned_to, inflight=inflight, active_at=now)


def ack(cursor: Cursor, position: Position, now: float) -> Cursor:
    if position > cursor.scanned:
        raise AckError(f"offset {position.offset} was never sent on this stream")
    if position <= cursor.acked:
        return replace(cursor, active_at=now)  # a repeated or late acknowledgement
    # Ascending: what stays in flight is a tail, found by bisection (a window holds thousands).
    inflight = cursor.inflight[bisect.bisect_right(cursor.inflight, position) :]
    acked = position if inflight else cursor.scanned
    return replace(cursor, acked=acked, inflight=inflight, active_at=now)


def retention_floor(cursors: list[Cursor], head: Position) -> Position:
    """Events after this are still owed to some named stream and must not be deleted."""
    return min((c.acked for c in cursors), default=head)


def idle_for(cursor: Cursor, now: float) -> float:
    return now - cursor.active_at
