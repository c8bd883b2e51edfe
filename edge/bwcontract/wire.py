"""Names on the wire between the edge and the origin, beside keys (`keys`) and signatures (`service`).

The origin names the tables a query read and may have written in two response headers; the edge
cache tags its entries and invalidates with them. Change events reach the edge's queue by signed
pushes to two internal paths, and an event too large for one push travels ahead of its batch in
parts: the batch then carries a stub naming the count of its parts under `PARTS_KEY`. The origin
reads a queue's figures (its streams and their lag) from `EVENT_FIGURES_PATH` for the console, whose
requests the edge signs with `CONSOLE_CLAIM` in place of a key's claims.

The origin names the shape of a single operation's answer (an id without values) in `SHAPE`; the
cache keeps it with the entry, so cache hits the edge reports (`bwcontract.usage`) name their shape.
"""

from __future__ import annotations

MODELS_READ = "x-breakwater-models-read"
MODELS_WRITTEN = "x-breakwater-models-written"
SHAPE = "x-breakwater-shape"

EVENTS_PATH = "/_bw/events/{database_id}"
EVENT_PART_PATH = "/_bw/events/{database_id}/parts/{offset}/{index}/{count}"
EVENT_FIGURES_PATH = "/_bw/events/{database_id}/figures"
PARTS_KEY = "$parts"
# A batch names each event's length before the events (`{"lengths":[…],"events":[…]}`), so the edge
# cuts the events out without parsing them (bwedge/eventbatch.py).
BATCH_LENGTHS = '{"lengths":['
BATCH_EVENTS = '],"events":['
CONSOLE_CLAIM = "console"

USAGE_HITS_PATH = "/_bw/usage/hits"  # edge -> origin: a batch of cache hits (bwcontract.usage)
USAGE_FLUSH_PATH = "/_bw/usage/flush"  # origin -> edge: report the hits counted so far now
PLAN_LIMITS_PATH = "/_bw/limits"  # origin -> edge: databases whose workspace reached a limit


def event_batch(texts: list[str]) -> str:
    """The push body of these event texts (compact JSON, in commit order), their lengths first."""
    return (
        BATCH_LENGTHS + ",".join([str(len(text)) for text in texts]) + BATCH_EVENTS + ",".join(texts) + "]}"
    )
