"""`python -m origin --port 8788`: serve the origin (settings from BREAKWATER_* variables)."""

from __future__ import annotations

from bwservice.serve import serve

# Idle keep-alive connections stay open longer than the edge keeps them (edge_local/origin.py, 60 s):
# the edge closes an idle connection first, so it never sends a request on one the origin is closing.
KEEP_ALIVE_SECONDS = 75

if __name__ == "__main__":
    serve("origin", "origin.app:create_app", 8788, __doc__, keep_alive_seconds=KEEP_ALIVE_SECONDS)
