"""JSON from callers, parsed at one boundary: what the rest of the origin may assume about it.

`loads` accepts standard JSON only, and bounds it before anything walks it recursively:
- nesting at most `MAX_DEPTH` levels (BW1301), measured on the text before parsing, so a body of
  100,000 `[` never reaches the parser or a recursive walk;
- no `NaN` / `Infinity` (not JSON; Python's parser takes them by default) and no unpaired UTF-16
  surrogate escapes (`"\\ud800"`: text Postgres cannot store and no response can encode): BW1001.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate, count
from typing import Any

from .errors import BadRequest

# Deep enough for any real client: a Prisma 7 plan grows ~11 levels per level of `include`, a
# JSON-protocol query ~2; the recorded clients send at most 17 (tests/protocol/captures).
MAX_DEPTH = 256


class InvalidJson(BadRequest):
    code = "BW1001"


class TooDeep(BadRequest):
    code = "BW1301"


# A JSON string, escapes included (unrolled so a long string is one fast scan).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Opening brackets weigh 2 and closing ones 0: after n brackets the running sum minus n is the depth.
_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> int | None:
    """How deep the brackets of a JSON text nest (strings aside) when that is more than `limit`."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return None  # the usual case: too few brackets to nest that deep
    brackets = _STRING.sub(b"", raw).translate(_WEIGHTS, _NOT_BRACKETS)
    # Linear and in C: a running sum of the weights, less the number of brackets seen so far.
    deepest = max(map(operator.sub, accumulate(brackets), count(1)), default=0)
    return deepest if deepest > limit else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(raw: bytes | str, what: str = "The request body") -> Any:
    """Parse caller-sent JSON text; InvalidJson or TooDeep (both 400) when it is not acceptable."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    levels = too_deep(data)
    if levels is not None:
        raise TooDeep(
            f"{what} nests {levels} levels deep; at most {MAX_DEPTH} are accepted.",
            meta={"depth": levels, "limit": MAX_DEPTH},
        )
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except ValueError as exc:  # UnicodeDecodeError included
        raise InvalidJson(f"{what} is not JSON: {exc}.") from None
    if _SURROGATE_ESCAPE.search(data) and not _encodable(value):
        raise InvalidJson(
            f"{what} holds an unpaired UTF-16 surrogate (a `\\ud800`-`\\udfff` escape that is not "
            "half of a pair), which is not text.",
        )
    return value


def _encodable(value: Any) -> bool:
    # Only for bodies that escape surrogates at all (emoji sent with ensure_ascii): pairs decode to
    # one code point, so whatever is left unpaired fails to encode.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
