"""JSON from callers, parsed at one boundary: what the rest of the origin may assume about it.

`loads` accepts standard JSON only, and bounds it before anything walks it recursively:
- nesting at most `MAX_DEPTH` levels (BW1301), measured on the text before parsing, so a body of
  100,000 `[` never reaches the parser or a recursive walk (`bwedge.jsontext`);
- no `NaN` / `Infinity` (not JSON; Python's parser takes them by default) and no unpaired UTF-16
  surrogate escapes (`"\\ud800"`: text Postgres cannot store and no response can encode): BW1001.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bwedge import jsontext

from .errors import BadRequest

# Deep enough for any real client: a Prisma 7 plan grows ~11 levels per level of `include`, a
# JSON-protocol query ~2; the recorded clients send at most 17 (tests/protocol/captures).
MAX_DEPTH = 256

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class InvalidJson(BadRequest):
    code = "BW1001"


class TooDeep(BadRequest):
    code = "BW1301"


def loads(raw: bytes | str, what: str = "The request body") -> Any:
    """Parse caller-sent JSON text; InvalidJson or TooDeep (both 400) when it is not acceptable."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        value = jsontext.loads(data, MAX_DEPTH)
    except jsontext.JsonTextError as exc:
        if exc.depth is not None:
            raise TooDeep(
                f"{what} nests {exc.depth} levels deep; at most {MAX_DEPTH} are accepted.",
                meta={"depth": exc.depth, "limit": MAX_DEPTH},
            ) from None
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
