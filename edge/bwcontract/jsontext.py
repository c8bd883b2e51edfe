"""JSON text from outside, bounded before it is parsed: shared by the edge and the origin.

Python's parser recurses once per level and takes `NaN` / `Infinity` (and reads `1e999` as an
infinite float); every walk after it recurses too. So the nesting depth is measured on the text first
(strings aside, in linear time and in C), and only finite numbers are accepted.
"""

from __future__ import annotations

import json
import math
import operator
import re
from itertools import accumulate, count
from typing import Any

# A JSON string, escapes included (unrolled, so a long string is one fast scan).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Opening brackets weigh 2 and closing ones 0: after n brackets, the running sum minus n is the depth.
_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


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


def _finite(text: str) -> float:
    # `1e999` is valid JSON text, but as a float it is infinite: no better than `Infinity`.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range for a number")
    return value


def loads(raw: bytes | str, limit: int) -> Any:
    """Standard JSON in UTF-8, nested at most `limit` levels deep; JsonTextError otherwise."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    levels = too_deep(data, limit)
    if levels is not None:
        raise JsonTextError(f"it nests {levels} levels deep; at most {limit} are accepted", levels)
    try:
        # Decoded here, strictly (a leading BOM aside, as RFC 8259 allows): json.loads would let
        # encoded surrogates through ("surrogatepass").
        value = json.loads(data.decode("utf-8-sig"), parse_constant=_no_constant, parse_float=_finite)
    except ValueError as exc:  # UnicodeDecodeError included
        raise JsonTextError(str(exc)) from None
    if _SURROGATE_ESCAPE.search(data) and not _is_text(value):
        raise JsonTextError(
            "it holds an unpaired UTF-16 surrogate (a \\ud800-\\udfff escape that is not half of a "
            "pair), which is not text"
        )
    return value


def _is_text(value: Any) -> bool:
    # Only for texts that escape surrogates at all (emoji sent with ensure_ascii): pairs decode to
    # one code point, so whatever is left unpaired fails to encode.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
