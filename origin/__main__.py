"""`python -m origin --port 8788`: serve the origin (settings from BREAKWATER_* variables)."""

from __future__ import annotations

from breakwater.serve import serve

if __name__ == "__main__":
    serve("origin", "origin.app:create_app", 8788, __doc__)
