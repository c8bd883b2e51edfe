"""`python -m edge_local --port 8787`: serve the edge on the local runtime."""

from __future__ import annotations

from bwservice.serve import serve

if __name__ == "__main__":
    serve(
        "edge_local", "edge_local.server:create_app", 8787, __doc__, ws="edge_local.wsprotocol:EdgeWebSockets"
    )
