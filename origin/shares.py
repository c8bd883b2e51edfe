"""An origin process's part of a budget that every live origin divides (a host's connections, a
database's connection limit).

The live origins are known from the control plane (`peers.py`); each computes its own part from the
same list, so the parts add up to the whole: the budget split evenly, the remainder one each to the
first origins in id order. An origin alone has the whole budget, as before there were several.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    rank: int = 0  # this origin's place among the live ones, in id order
    count: int = 1  # how many origins are live

    def of(self, total: int) -> int:
        """This origin's part of `total`, at least 1: an origin with no connection to a database could
        not serve it at all, so with more origins than a budget has connections, each keeps one (the
        host's proxy still bounds the host as a whole, see hosts/proxy.py)."""
        base, extra = divmod(total, self.count)
        return max(1, base + (1 if self.rank < extra else 0))

    @classmethod
    def among(cls, live: Collection[str], me: str) -> Share:
        """My share among the `live` origin ids (mine counts as live even when the list missed it)."""
        ordered = sorted({*live, me})
        return cls(ordered.index(me), len(ordered))


WHOLE = Share()
