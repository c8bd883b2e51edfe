"""Events → the WebSocket text frames that carry them to a consumer.

`{"type":"events","events":[…]}` frames of at most `limit` characters, built from the stored event
texts as they are (no re-encoding); an event larger than a frame goes alone, in
`{"type":"part","offset","index","last","data"}` pieces the client joins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from .eventlog import StoredEvent


def frames(events: list[StoredEvent], limit: int) -> Iterator[str]:
    frame: list[str] = []
    size = 0
    for stored in events:
        if len(stored.body) > limit:
            if frame:
                yield _events_frame(frame)
                frame, size = [], 0
            yield from _parts(stored, limit)
            continue
        if frame and size + len(stored.body) > limit:
            yield _events_frame(frame)
            frame, size = [], 0
        frame.append(stored.body)
        size += len(stored.body) + 1
    if frame:
        yield _events_frame(frame)


def _events_frame(bodies: list[str]) -> str:
    return '{"type":"events","events":[' + ",".join(bodies) + "]}"


def _parts(stored: StoredEvent, limit: int) -> Iterator[str]:
    body = stored.body
    pieces = [body[i : i + limit] for i in range(0, len(body), limit)]
    for index, piece in enumerate(pieces):
        yield json.dumps(
            {
                "type": "part",
                "offset": stored.position.offset,
                "index": index,
                "last": index == len(pieces) - 1,
                "data": piece,
            }
        )
