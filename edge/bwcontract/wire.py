"""Names on the wire between the edge and the origin, beside keys (`keys`) and signatures (`service`).

The origin names the tables a query read and may have written in two response headers; the edge
cache tags its entries and invalidates with them. Change events reach the edge's queue by signed
pushes to two internal paths, and an event too large for one push travels ahead of its batch in
parts: the batch then carries a stub naming the count of its parts under `PARTS_KEY`.
"""

from __future__ import annotations

MODELS_READ = "x-breakwater-models-read"
MODELS_WRITTEN = "x-breakwater-models-written"

EVENTS_PATH = "/_bw/events/{database_id}"
EVENT_PART_PATH = "/_bw/events/{database_id}/parts/{offset}/{index}/{count}"
PARTS_KEY = "$parts"
