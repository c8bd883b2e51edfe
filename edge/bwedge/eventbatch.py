"""An origin's event batch, split into each event's value and its own JSON text.

The log stores and serves an event's text as the origin wrote it (compact JSON, one event per
value), so the text is cut out of the batch rather than encoded again from a parsed value. The
origin's batches name each event's length first (`bwcontract.wire.event_batch`): every event is
cut at its length, and what the log needs of it (offset, model, action) is read from its head, which
the origin writes first in a fixed layout, so the rest of the event (its record) is not parsed at
the edge at all. The origin signs the batch and vouches for the texts; an event with another head,
or one standing for parts, is parsed whole. A batch of `{"events":[…]}` alone is split by parsing
each event; any other layout, or lengths that do not fall on the events' bounds, is parsed whole
(and each event encoded compactly), so a batch is never cut wrongly, only more slowly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bwcontract.wire import BATCH_EVENTS as _EVENTS
from bwcontract.wire import BATCH_LENGTHS as _INDEXED
from bwcontract.wire import PARTS_KEY

_PREFIX = '{"events":['
_SUFFIX = "]}"
_DECODER = json.JSONDecoder()
# The head of every event the origin writes (origin/capture: the id, then these, in this order).
_HEAD = re.compile(
    r'\{"id":"[^"\\]*","offset":"([0-9A-F]{16}-[0-9A-F]{8})","modelName":"([^"\\]*)",'
    r'"action":"([a-z]+)"[,}]'
)
_PARTS = json.dumps(PARTS_KEY)


def split_batch(body: str) -> tuple[list[Any], list[str]]:
    """The events of a batch and, for each, its JSON text. ValueError/TypeError: not a batch."""
    try:
        if body.startswith(_INDEXED) and body.endswith(_SUFFIX):
            return _cut_at_lengths(body)
        if body.startswith(_PREFIX) and body.endswith(_SUFFIX):
            return _cut(body, len(_PREFIX))
    except ValueError:
        pass  # not the compact layout after all: the general path says what is wrong
    events = json.loads(body)["events"]
    if not isinstance(events, list):
        raise TypeError("expected {events: [...]}")
    return events, [json.dumps(e, separators=(",", ":")) for e in events]


def _cut_at_lengths(body: str) -> tuple[list[Any], list[str]]:
    split = body.find(_EVENTS)
    if split < 0:
        raise ValueError("no events")
    named = body[len(_INDEXED) : split]
    lengths = [int(n) for n in named.split(",")] if named else []
    events: list[Any] = []
    texts: list[str] = []
    pos, end = split + len(_EVENTS), len(body) - len(_SUFFIX)
    for length in lengths:
        after = pos + length
        if length < 2 or after > end or body[pos] != "{" or body[after - 1] != "}":
            raise ValueError("a length that is not an event's")
        if after < end and body[after] != ",":
            raise ValueError("not a compact batch")
        text = body[pos:after]
        head = _HEAD.match(text)
        if head is None or _PARTS in text:  # (a model name with escapes has another head too)
            events.append(json.loads(text))
        else:
            events.append({"offset": head[1], "modelName": head[2], "action": head[3]})
        texts.append(text)
        pos = after + 1
    if pos != end + (1 if lengths else 0):
        raise ValueError("not a compact batch")
    return events, texts


def _cut(body: str, pos: int) -> tuple[list[Any], list[str]]:
    events: list[Any] = []
    texts: list[str] = []
    end = len(body) - len(_SUFFIX)
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
