"""Event offsets: one ordered value, one wire format that also sorts as text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwcontract.offsets import InvalidOffset, Position

positions = st.builds(Position, st.integers(0, 2**63 - 1), st.integers(0, 2**32 - 1))


@given(positions)
def test_an_offset_parses_back_to_its_position(position: Position) -> None:
    assert Position.parse(position.offset) == position
    assert Position.parse(position.offset.lower()) == position


@given(positions, positions)
def test_offsets_sort_as_text_exactly_as_positions_sort(a: Position, b: Position) -> None:
    assert (a.offset < b.offset) == (a < b)


def test_the_event_id_is_derived_from_the_commit_lsn_and_the_index() -> None:
    assert Position(0x1A2B, 3).event_id == "ev_1a2b_3"
    assert Position(0x1A2B, 3).offset == "0000000000001A2B-00000003"


@pytest.mark.parametrize(
    "text", ["", "latest", "1A2B-3", "0000000000001A2B:00000003", "G" * 16 + "-" + "0" * 8]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidOffset):
        Position.parse(text)


@given(st.text(max_size=40))
def test_parsing_arbitrary_text_either_works_or_raises_invalid_offset(text: str) -> None:
    try:
        Position.parse(text)
    except InvalidOffset:
        pass
