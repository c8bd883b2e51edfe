"""Cursors and acknowledgements, step by step, as pure functions with the clock passed in."""

from __future__ import annotations

import pytest

from bwcontract.offsets import ZERO, Position
from bwedge import cursors
from bwedge.cursors import AckError, Cursor


def p(n: int) -> Position:
    return Position(n, 0)


def test_a_new_cursor_has_nothing_in_flight_and_room_for_the_whole_window() -> None:
    cursor = cursors.start(p(5), now=1.0)
    assert cursor == Cursor(acked=p(5), scanned=p(5), inflight=(), active_at=1.0)
    assert cursors.room(cursor, 3) == 3


def test_sent_events_wait_for_acknowledgement_and_fill_the_window() -> None:
    cursor = cursors.sent(cursors.start(ZERO, 0), [p(1), p(3)], scanned_to=p(4), now=2.0)
    assert cursor == Cursor(acked=ZERO, scanned=p(4), inflight=(p(1), p(3)), active_at=2.0)
    assert cursors.room(cursor, 2) == 0


def test_an_ack_is_cumulative_and_jumps_over_unmatched_events_once_nothing_is_in_flight() -> None:
    cursor = cursors.sent(cursors.start(ZERO, 0), [p(1), p(3)], scanned_to=p(4), now=0)
    half = cursors.ack(cursor, p(1), now=3.0)
    assert half == Cursor(acked=p(1), scanned=p(4), inflight=(p(3),), active_at=3.0)
    done = cursors.ack(half, p(3), now=4.0)
    assert done == Cursor(acked=p(4), scanned=p(4), inflight=(), active_at=4.0)


def test_scanning_past_unmatched_events_with_nothing_in_flight_moves_the_acknowledged_point() -> None:
    assert cursors.sent(cursors.start(ZERO, 0), [], scanned_to=p(9), now=1).acked == p(9)


def test_a_repeated_ack_changes_nothing_but_the_activity_time() -> None:
    cursor = cursors.ack(cursors.sent(cursors.start(ZERO, 0), [p(1)], p(1), 0), p(1), 1)
    assert cursors.ack(cursor, p(1), 7.0) == Cursor(p(1), p(1), (), 7.0)


def test_acking_what_was_never_sent_is_an_error() -> None:
    with pytest.raises(AckError):
        cursors.ack(cursors.start(p(2), 0), p(3), 1)


def test_resuming_a_named_stream_redelivers_what_was_not_acknowledged() -> None:
    cursor = cursors.sent(cursors.start(ZERO, 0), [p(1), p(2)], p(2), 0)
    cursor = cursors.ack(cursor, p(1), 1)
    assert cursors.resume(cursor, 5.0) == Cursor(acked=p(1), scanned=p(1), inflight=(), active_at=5.0)


def test_the_retention_floor_is_the_slowest_acknowledged_point() -> None:
    slow, fast = cursors.start(p(3), 0), cursors.start(p(8), 0)
    assert cursors.retention_floor([fast, slow], head=p(10)) == p(3)
    assert cursors.retention_floor([], head=p(10)) == p(10)


def test_a_cursor_survives_its_json_form() -> None:
    cursor = cursors.sent(cursors.start(p(1), 0), [p(2)], p(4), 3.5)
    assert Cursor.from_json(cursor.to_json()) == cursor
