"""An origin's event batch (`{"events":[…]}`), split into each event's value and its own JSON text.

The log stores and serves an event's text as the origin wrote it (compact JSON, one event per
value), so the text is cut out of the batch rather than encoded again from the parsed value: one
parse per event at the edge, no re-encoding. A batch in any other layout (whitespace, keys in another
order) is parsed whole and each event encoded compactly, as before.
"""

from __future__ import annotations

import json
from typing import Any

_PREFIX = '{"events":['
_SUFFIX = "]}"
_DECODER = json.JSONDecoder()


def split_batch(body: str) -> tuple[list[Any], list[str]]:
    """The events of a batch and, for each, its JSON text. ValueError/TypeError: not a batch."""
    if body.startswith(_PREFIX) and body.endswith(_SUFFIX):
        try:
            return _cut(body)
        except ValueError:
            pass  # not the compact layout after all: the general path says what is wrong
    events = json.loads(body)["events"]
    if not isinstance(events, list):
        raise TypeError("expected {events: [...]}")
    return events, [json.dumps(e, separators=(",", ":")) for e in events]


def _cut(body: str) -> tuple[list[Any], list[str]]:
    events: list[Any] = []
    texts: list[str] = []
    pos, end = len(_PREFIX), len(body) - len(_SUFFIX)
    while pos < end:
        event, after = _DECODER.raw_decode(body, pos)
        events.append(event)
        texts.append(body[pos:after])
        if after < end and body[after] != ",":
            raise ValueError("not a compact batch")
        pos = after + 1
    if pos != end + (1 if events else 0):
        raise ValueError("not a compact batch")
    return events, texts
