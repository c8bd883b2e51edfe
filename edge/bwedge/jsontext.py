"""JSON text from outside, bounded before it is parsed: shared by the edge and the origin.

Python's parser recurses once per level and takes `NaN` / `Infinity`; every walk after it recurses
too. So the nesting depth is measured on the text first (strings aside, in linear time and in C),
and only standard JSON is accepted.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate, count
from typing import Any

# A JSON string, escapes included (unrolled, so a long string is one fast scan).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Opening brackets weigh 2 and closing ones 0: after n brackets, the running sum minus n is the depth.
_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


class JsonTextError(ValueError):
    """Not acceptable JSON; `depth` is set when the only fault is nesting deeper than the limit."""

    def __init__(self, message: str, depth: int | None = None) -> None:
        super().__init__(message)
        self.depth = depth


def too_deep(raw: bytes, limit: int) -> int | None:
    """How deep the brackets of a JSON text nest (strings aside) when that is more than `limit`."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return None  # the usual case: too few brackets to nest that deep
    brackets = _STRING.sub(b"", raw).translate(_WEIGHTS, _NOT_BRACKETS)
    deepest = max(map(operator.sub, accumulate(brackets), count(1)), default=0)
    return deepest if deepest > limit else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(raw: bytes | str, limit: int) -> Any:
    """Standard JSON nested at most `limit` levels deep; JsonTextError otherwise."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    levels = too_deep(data, limit)
    if levels is not None:
        raise JsonTextError(f"it nests {levels} levels deep; at most {limit} are accepted", levels)
    try:
        return json.loads(data, parse_constant=_no_constant)
    except ValueError as exc:  # UnicodeDecodeError included
        raise JsonTextError(str(exc)) from None
