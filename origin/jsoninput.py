"""JSON from callers, parsed at one boundary: what the rest of the origin may assume about it.

`loads` accepts standard JSON only, and bounds it before anything walks it recursively:
- nesting at most `MAX_DEPTH` levels (BW1301), measured on the text before parsing, so a body of
  100,000 `[` never reaches the parser or a recursive walk (`bwedge.jsontext`);
- UTF-8 only, no `NaN` / `Infinity` / `1e999` (not JSON numbers; Python's parser takes them) and no
  unpaired UTF-16 surrogates (`"\\ud800"`: text Postgres cannot store and no response can encode):
  BW1001.
"""

from __future__ import annotations

from typing import Any

from bwedge import jsontext

from .errors import BadRequest

# Deep enough for any real client: a Prisma 7 plan grows ~11 levels per level of `include`, a
# JSON-protocol query ~2; the recorded clients send at most 17 (tests/protocol/captures).
MAX_DEPTH = 256


class InvalidJson(BadRequest):
    code = "BW1001"


class TooDeep(BadRequest):
    code = "BW1301"


def loads(raw: bytes | str, what: str = "The request body") -> Any:
    """Parse caller-sent JSON text; InvalidJson or TooDeep (both 400) when it is not acceptable."""
    try:
        return jsontext.loads(raw, MAX_DEPTH)
    except jsontext.JsonTextError as exc:
        if exc.depth is not None:
            raise TooDeep(
                f"{what} nests {exc.depth} levels deep; at most {MAX_DEPTH} are accepted.",
                meta={"depth": exc.depth, "limit": MAX_DEPTH},
            ) from None
        raise InvalidJson(f"{what} is not JSON: {exc}.") from None
