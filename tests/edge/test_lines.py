"""A database whose line at the origin is full is answered at the edge for a moment (bwedge/lines.py)."""

from __future__ import annotations

from bwedge.http import EdgeResponse
from bwedge.lines import FullLines
from bwedge.routes import Route, classify


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def line_full(retry_after: str = "7") -> EdgeResponse:
    return EdgeResponse.json(
        429,
        {"code": "BW1429", "message": "full"},
        {"Prisma-Error-Code": "BW1429", "Retry-After": retry_after},
    )


QUERY = Route("query", "v1")


def test_the_origins_answer_is_given_again_for_up_to_a_second() -> None:
    clock = Clock()
    lines = FullLines(clock)
    assert lines.answer("db1", QUERY) is None
    lines.note("db1", QUERY, line_full())
    held = lines.answer("db1", QUERY)
    assert held is not None and held.status == 429 and held.body == line_full().body
    assert held.headers["retry-after"] == "1"
    assert lines.answer("db2", QUERY) is None  # another database
    assert lines.answer("db1", Route("query", "prisma6")) is None  # another protocol's answer shape
    clock.now += 1.0
    assert lines.answer("db1", QUERY) is None


def test_a_shorter_retry_after_holds_shorter() -> None:
    clock = Clock()
    lines = FullLines(clock)
    lines.note("db1", QUERY, line_full("0"))
    assert lines.answer("db1", QUERY) is None


def test_work_inside_an_open_transaction_still_goes_through() -> None:
    clock = Clock()
    lines = FullLines(clock)
    tx_op = classify("POST", "/v1/transaction/o1~abc/query")
    assert tx_op is not None
    lines.note("db1", tx_op, line_full())
    lines.note("db1", QUERY, line_full())
    assert lines.answer("db1", tx_op) is None
    start = Route("tx_start", "v1")
    assert lines.answer("db1", start) is None  # a start was never refused: not held
    lines.note("db1", start, line_full())
    assert lines.answer("db1", start) is not None


def test_other_answers_are_not_held() -> None:
    lines = FullLines(Clock())
    lines.note("db1", QUERY, EdgeResponse.json(503, {"code": "P2024"}, {"Prisma-Error-Code": "P2024"}))
    lines.note("db1", QUERY, EdgeResponse.json(200, {"data": []}))
    assert lines.answer("db1", QUERY) is None
