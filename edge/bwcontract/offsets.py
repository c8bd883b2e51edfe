"""Positions in a database's event log: one small ordered value with one wire format.

A change's position is the commit LSN of its transaction and its index inside that transaction, so
it is the same every time the change is decoded again: redelivery cannot renumber anything. The wire
form (`offset`) is fixed-width hex, so offsets also sort correctly as strings.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_TEXT = re.compile(r"^([0-9A-F]{16})-([0-9A-F]{8})$")
# Positions are stored as SQLite integers, which are signed 64-bit; a WAL position never gets there.
MAX_LSN = 2**63 - 1
EARLIEST = "earliest"  # the oldest event the log still holds
LATEST = "latest"  # the current end: only what is appended from now on


class InvalidOffset(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Position:
    lsn: int
    seq: int

    @functools.cached_property
    def offset(self) -> str:
        # Cached: a consumer's cursor writes the offsets of every event in flight at each save.
        return f"{self.lsn:016X}-{self.seq:08X}"

    @property
    def event_id(self) -> str:
        """Stable event id: the same change always gets the same id, so consumers can deduplicate."""
        return f"ev_{self.lsn:x}_{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Position:
        if not isinstance(text, str) or len(text) != 25:
            raise InvalidOffset(f"{text!r} is not an event offset (16 hex digits, '-', 8 hex digits)")
        if _TEXT.match(text) is None:
            if _TEXT.match(text.upper()) is None:
                raise InvalidOffset(f"{text!r} is not an event offset (16 hex digits, '-', 8 hex digits)")
            text = text.upper()
        lsn = int(text[:16], 16)
        if lsn > MAX_LSN:
            raise InvalidOffset(f"{text!r} is past the end of any event log")
        position = cls(lsn, int(text[17:], 16))
        position.__dict__["offset"] = text  # the text is the offset already (upper case)
        return position


ZERO = Position(0, 0)
